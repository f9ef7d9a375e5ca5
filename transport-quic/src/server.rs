//! The answering side: accept, authenticate, one task per request stream.

use std::net::SocketAddr;
use std::sync::Arc;

use goldfish_core::wire::{self, Frame};
use goldfish_core::NodeId;
use quinn::{Connection, Incoming, RecvStream, SendStream, VarInt};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::ParsedCertificate;

use crate::framing::{read_frame, write_frame, ReadFail};
use crate::{add, bump, code, Inner, ALPN, MAX_HELLO};

/// Accepts connections until the endpoint is closed.
pub(crate) async fn accept_loop(inner: Arc<Inner>) {
    while let Some(incoming) = inner.endpoint.accept().await {
        if inner.is_closed() {
            incoming.refuse();
            continue;
        }
        tokio::spawn(connection(inner.clone(), incoming));
    }
}

/// One incoming connection: handshake, identity, then its request streams.
async fn connection(inner: Arc<Inner>, incoming: Incoming) {
    let remote = incoming.remote_address();
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => {
            if !inner.is_closed() {
                bump(&inner.stats.handshakes_refused);
                tracing::warn!(%remote, reason = %e, "refused an incoming QUIC handshake");
            }
            return;
        }
    };
    let from =
        match tokio::time::timeout(inner.settings.connect_timeout, identify(&inner, &conn)).await {
            Ok(Ok(from)) => from,
            Ok(Err(why)) => return refuse(&inner, &conn, remote, &why),
            Err(_) => return refuse(&inner, &conn, remote, "no Hello within the connect timeout"),
        };
    bump(&inner.stats.connections_accepted);
    tracing::debug!(node = %from, %remote, "accepted a connection");
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                tokio::spawn(stream(inner.clone(), from, remote, send, recv));
            }
            Err(e) => {
                tracing::debug!(node = %from, %remote, reason = %e, "connection ended");
                return;
            }
        }
    }
}

fn refuse(inner: &Inner, conn: &Connection, remote: SocketAddr, why: &str) {
    bump(&inner.stats.handshakes_refused);
    tracing::warn!(%remote, reason = why, "refused an incoming connection");
    conn.close(VarInt::from_u32(code::IDENTITY_REFUSED), why.as_bytes());
}

/// Checks the ALPN, reads the client's `Hello`, checks that its verified
/// certificate is valid for the name it claims, and answers with ours.
async fn identify(inner: &Inner, conn: &Connection) -> Result<NodeId, String> {
    let alpn = conn
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol);
    if alpn.as_deref() != Some(ALPN) {
        return Err("the client did not agree on ALPN goldfish/1".to_owned());
    }
    let certs = conn
        .peer_identity()
        .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or("the client presented no certificate")?;
    let cert = certs.first().ok_or("the client presented no certificate")?;

    let (mut send, mut recv) = conn
        .accept_bi()
        .await
        .map_err(|e| format!("connection ended before the Hello: {e}"))?;
    let node = match read_frame(&mut recv, MAX_HELLO).await {
        Ok((Frame::Hello { node }, n)) => {
            add(&inner.stats.bytes_received, n);
            node
        }
        Ok((other, _)) => return Err(format!("the first frame is not a Hello: {other:?}")),
        Err(ReadFail::TooLarge { len, .. }) => {
            return Err(format!("the Hello is {len} bytes long"))
        }
        Err(ReadFail::Malformed { error, .. }) => return Err(format!("bad Hello: {error}")),
        Err(ReadFail::Ended { got }) => return Err(format!("the Hello ended after {got} bytes")),
        Err(ReadFail::Stream(e)) => return Err(format!("no Hello: {e}")),
    };
    let name = match ServerName::try_from(node.as_str()) {
        Ok(name @ ServerName::DnsName(_)) => name,
        _ => return Err(format!("the claimed name `{node}` is not a DNS name")),
    };
    let parsed = ParsedCertificate::try_from(cert)
        .map_err(|e| format!("cannot parse the client certificate: {e}"))?;
    rustls::client::verify_server_name(&parsed, &name).map_err(|e| {
        format!("the client claims to be `{node}` but its certificate says otherwise: {e}")
    })?;

    let hello = wire::encode(&Frame::Hello { node: inner.local }, MAX_HELLO)
        .map_err(|e| format!("cannot encode our Hello: {e}"))?;
    let n = write_frame(&mut send, &hello)
        .await
        .map_err(|e| format!("cannot answer the Hello: {e}"))?;
    add(&inner.stats.bytes_sent, n);
    let _ = send.finish();
    Ok(node)
}

/// Refuses a bad request stream: stop reading, reset the answer side.
fn refuse_stream(send: &mut SendStream, recv: &mut RecvStream, c: u32) {
    let _ = recv.stop(VarInt::from_u32(c));
    let _ = send.reset(VarInt::from_u32(c));
}

/// One request stream: read, handle, answer. Runs as its own task, so the
/// handler finishes even if the caller stops waiting.
async fn stream(
    inner: Arc<Inner>,
    from: NodeId,
    remote: SocketAddr,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    let max = inner.settings.max_frame;
    let frame = match read_frame(&mut recv, max).await {
        Ok((frame, n)) => {
            add(&inner.stats.bytes_received, n);
            frame
        }
        Err(ReadFail::TooLarge { len, max }) => {
            bump(&inner.stats.frames_refused_oversized);
            tracing::warn!(node = %from, %remote, len, max, "refused an oversized frame");
            return refuse_stream(&mut send, &mut recv, code::FRAME_TOO_LARGE);
        }
        Err(ReadFail::Malformed { error, bytes }) => {
            bump(&inner.stats.frames_refused_malformed);
            add(&inner.stats.bytes_received, bytes);
            tracing::warn!(node = %from, %remote, %error, "refused a malformed frame");
            return refuse_stream(&mut send, &mut recv, code::FRAME_MALFORMED);
        }
        Err(ReadFail::Ended { got }) => {
            tracing::debug!(node = %from, %remote, got, "request stream ended before a whole frame");
            return refuse_stream(&mut send, &mut recv, code::INCOMPLETE);
        }
        Err(ReadFail::Stream(e)) => {
            tracing::debug!(node = %from, %remote, reason = %e, "request stream failed");
            return refuse_stream(&mut send, &mut recv, code::INCOMPLETE);
        }
    };
    let Some(service) = inner.service() else {
        let _ = send.reset(VarInt::from_u32(code::NOT_SERVING));
        return;
    };
    let answer = service.handle(from, frame).await;
    drop(service);
    let bytes = match wire::encode(&answer, max) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(node = %from, %error, "the service's answer cannot be sent");
            let _ = send.reset(VarInt::from_u32(code::ANSWER_FAILED));
            return;
        }
    };
    match write_frame(&mut send, &bytes).await {
        Ok(n) => {
            let _ = send.finish();
            add(&inner.stats.bytes_sent, n);
            bump(&inner.stats.requests_served);
        }
        Err(e) => tracing::debug!(node = %from, reason = %e, "the answer could not be sent"),
    }
}
