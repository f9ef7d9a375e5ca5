//! QUIC transport with mutual TLS between GoldFish nodes (built in issue #4).
