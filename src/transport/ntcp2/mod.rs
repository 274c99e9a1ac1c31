//! NTCP2 (ntcp2.rst): the protocol core, without sockets or tokio.
//!
//! * [`handshake`]: [`Initiator`] (Alice) and [`Responder`] (Bob) state machines for
//!   SessionRequest / SessionCreated / SessionConfirmed, the [`ReplayCache`] for ephemeral keys,
//!   and typed [`HandshakeError`]s with metric labels.
//! * [`frame`]: the data-phase KDF, SipHash length obfuscation, ChaCha20-Poly1305 frames
//!   ([`FrameEncoder`] / [`FrameDecoder`]) and the block codec.
//! * The Noise symmetric state itself is [`crate::crypto::noise`].
//!
//! # Driving the state machines (for the session task and the transport manager)
//!
//! The manager owns one `Arc<LocalKeys>` (our static key, router hash, IV, network id) and one
//! `Arc<ReplayCache>` shared by all handshakes, and reads the clock for every call
//! (`unix_time_secs(SystemTime::now())`). Every handshake needs a fresh
//! [`HandshakeRandom::generate`] (ephemeral key plus cleartext padding, at most
//! [`handshake::MAX_HANDSHAKE_PADDING`] bytes so i2pd accepts it). Wrap the whole handshake in a
//! timeout (i2pd uses 10 s) and limit concurrent handshakes per source IP.
//!
//! Inbound (Bob), per accepted socket:
//! 1. `let mut r = Responder::new(keys, HandshakeRandom::generate(..))?;`
//! 2. read exactly `r.bytes_needed()` (64) bytes, `r.read_message1(&buf, now, &replay)`.
//!    On error: if `e.wants_probing_resistance()` wait a random time and read a random number of
//!    bytes before closing; in all cases close without sending anything (RST), count
//!    `e.reason()`. A network-id mismatch may be fed to a ban list.
//! 3. read exactly `r.bytes_needed()` padding bytes (may be 0) and check that nothing more is
//!    already buffered (the spec requires failing if Alice sent extra data before message 2),
//!    then write `r.write_message2(&padding, now)?` in a single write.
//! 4. read exactly `r.bytes_needed()` (48 + m3p2Len) bytes, `let c = r.read_message3(&buf)?;`.
//!    Alice may pipeline data frames right behind message 3, so keep any extra bytes for the
//!    data phase.
//! 5. parse and verify `c.router_info()` (RouterInfo module: signature, timestamp, an NTCP2
//!    address with `v=2`), then `c.accept(&that_address_s)` yields the [`DataPhase`]. If the
//!    RouterInfo is bad, `c.reject(TerminationReason::..)` gives a Termination frame to send
//!    before closing. Store the RouterInfo; flood it if `c.flood_requested()` and we are
//!    floodfill.
//!
//! Outbound (Alice), per connection to a peer whose RouterInfo has an NTCP2 address with
//! `s`, `i`, `v=2`:
//! 1. `let mut a = Initiator::new(keys, PeerNtcp2Info{..}, our_ri_bytes, options, pad, random)?;`
//! 2. write `a.write_message1(now)?` in a single write.
//! 3. read 64 bytes, `a.read_message2(&buf, now, &replay)?`; on `ClockSkew` record the skew.
//! 4. read `a.bytes_needed()` padding bytes, `let (msg3, data) = a.write_message3(&pad)?;`,
//!    write `msg3`, ideally in the same write as the first data frame.
//!
//! Data phase, both roles: `DataPhase { encoder, decoder, .. }`. Sending: build
//! `Vec<Block>` (I2NP blocks, DateTime, RouterInfo, Padding last) and write
//! `encoder.encrypt_blocks(&blocks)?` in one write (frames up to a few KiB keep latency low).
//! Receiving: append socket bytes to a buffer and loop `decoder.decode(&buf)?`: on
//! `Decoded::Frame { consumed, payload }` drop `consumed` bytes and hand
//! `frame::parse_blocks(&payload)?` to the router; on `NeedMore { additional }` read more. A
//! `FrameError` is fatal for the session: after a random delay send
//! `Block::Termination { frames_received: decoder.frames_received(), reason:
//! err.termination_reason(), .. }` and close. A received Termination block ends the session.
//!
//! A DateTime block from the peer should be compared with our clock like the handshake
//! timestamps ([`handshake::MAX_CLOCK_SKEW_SECS`]; i2pd does the same) and answered with a
//! `TerminationReason::ClockSkew` termination when off.
//!
//! Replaying captured traffic: every input (keys, padding, `now`) is a parameter, so a test can
//! rebuild a responder with the ephemeral key and padding used during a capture and feed it the
//! captured bytes; `tests.rs::captured_i2pd_session_replays` does so for an i2pd 2.45.1 session.

pub mod frame;
pub mod handshake;
pub mod session;

#[cfg(test)]
mod tests;

pub use frame::{
    Block, DataPhaseKeys, Decoded, FrameDecoder, FrameEncoder, FrameError, I2npBlock, OptionsBlock,
    TerminationReason, parse_blocks, serialize_blocks,
};
pub use handshake::{
    DataPhase, HandshakeError, HandshakeRandom, Initiator, LocalKeys, PeerNtcp2Info, ReplayCache,
    Responder, SessionConfirmed, Stage, unix_time_secs,
};
