//! Model checks of goldfish-core (built in issue #6).
