//! The bench's own routers: a fresh identity each, and a bare NTCP2 client session to the router
//! under test.
//!
//! Not the router's `TransportManager`: the bench needs to put many messages into one frame
//! itself (the write side is the load generator's hot path) and to see every frame it receives
//! as it arrives, without a dispatcher in between. The handshake is the production state machine
//! ([`Initiator`]), so the router under test sees exactly what a floodgate router would send.

use super::BenchError;
use crate::identity::{RouterInfoParams, RouterKeys, build_router_info};
use crate::transport::ntcp2::frame::MAX_FRAME_PAYLOAD;
use crate::transport::ntcp2::{
    Block, FrameDecoder, FrameEncoder, HandshakeRandom, Initiator, LocalKeys, PeerNtcp2Info,
    ReplayCache, parse_blocks, unix_time_secs,
};
use crate::wire::RouterInfo;
use bytes::{Bytes, BytesMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Handshake deadline, as the router uses for its own sessions.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest frame payload the bench writes (the NTCP2 maximum minus room for nothing else: the
/// bench sends no padding blocks, which the spec allows).
pub const MAX_PAYLOAD: usize = MAX_FRAME_PAYLOAD;

/// What the bench needs to know about the router under test, from its router.info file.
#[derive(Debug, Clone)]
pub struct Uut {
    pub hash: [u8; 32],
    /// X25519 router encryption key (tunnel build records are encrypted to it).
    pub encryption_key: [u8; 32],
    pub ntcp2: PeerNtcp2Info,
    pub addr: SocketAddr,
    pub net_id: u8,
    pub floodfill: bool,
}

impl Uut {
    /// Parse and verify a RouterInfo file; `addr` overrides the published NTCP2 address.
    pub fn from_router_info(bytes: &[u8], addr: Option<SocketAddr>) -> Result<Self, BenchError> {
        let ri =
            RouterInfo::parse_verified(bytes).map_err(|e| BenchError::RouterInfo(e.to_string()))?;
        let ntcp2 = ri
            .addresses()
            .iter()
            .filter(|a| a.transport() == "NTCP2")
            .find(|a| a.static_key().is_some() && a.i_param().is_some_and(|i| i.len() == 16))
            .ok_or_else(|| {
                BenchError::RouterInfo("no NTCP2 address with static key and IV".into())
            })?;
        let static_key = ntcp2
            .static_key()
            .ok_or_else(|| BenchError::RouterInfo("NTCP2 static key".into()))?;
        let iv: [u8; 16] = ntcp2
            .i_param()
            .and_then(|i| i.try_into().ok())
            .ok_or_else(|| BenchError::RouterInfo("NTCP2 IV".into()))?;
        let addr = match addr {
            Some(a) => a,
            None => SocketAddr::new(
                ntcp2
                    .ip()
                    .ok_or_else(|| BenchError::RouterInfo("NTCP2 address has no host".into()))?,
                ntcp2
                    .port()
                    .ok_or_else(|| BenchError::RouterInfo("NTCP2 address has no port".into()))?,
            ),
        };
        let encryption_key: [u8; 32] = ri
            .identity()
            .encryption_public_key()
            .try_into()
            .map_err(|_| BenchError::RouterInfo("encryption key is not X25519".into()))?;
        let net_id = ri
            .net_id()
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| BenchError::RouterInfo("netId missing or out of range".into()))?;
        Ok(Self {
            hash: ri.hash(),
            encryption_key,
            ntcp2: PeerNtcp2Info {
                router_hash: ri.hash(),
                static_key,
                iv,
            },
            addr,
            net_id,
            floodfill: ri.is_floodfill(),
        })
    }
}

/// One router the bench plays: fresh keys and a signed RouterInfo publishing `ip`.
pub struct BenchRouter {
    pub keys: RouterKeys,
    pub hash: [u8; 32],
    pub router_info: Bytes,
    pub ip: IpAddr,
}

impl BenchRouter {
    /// `ip` is both the published host and the source address of the connection: some routers
    /// compare the two. Nothing listens on `port`; the router under test reaches us over the
    /// session we open.
    pub fn generate(net_id: u8, ip: IpAddr, port: u16) -> Result<Self, BenchError> {
        let keys = RouterKeys::generate();
        let params = RouterInfoParams {
            net_id,
            floodfill: false,
            shared_kbps: 100_000,
            host: Some(ip),
            ntcp2_port: Some(port),
            router_version: crate::router::ROUTER_API_VERSION,
            congestion: None,
            family: None,
        };
        let now_ms = crate::tunnel::unix_now_ms();
        let ri = build_router_info(&keys, &params, now_ms)
            .map_err(|e| BenchError::RouterInfo(e.to_string()))?;
        Ok(Self {
            hash: ri.hash(),
            router_info: Bytes::from(ri.to_bytes()),
            keys,
            ip,
        })
    }

    /// Open an NTCP2 session to the router under test.
    pub async fn connect(&self, uut: &Uut) -> Result<(FrameWriter, FrameReader), BenchError> {
        let local = Arc::new(LocalKeys::new(
            x25519_dalek::StaticSecret::from(*self.keys.ntcp2_static_secret),
            self.hash,
            self.keys.ntcp2_iv,
            uut.net_id,
        ));
        let hs = async {
            let socket = match uut.addr {
                SocketAddr::V4(_) => TcpSocket::new_v4()?,
                SocketAddr::V6(_) => TcpSocket::new_v6()?,
            };
            socket.bind(SocketAddr::new(self.ip, 0))?;
            let mut stream = socket.connect(uut.addr).await?;
            stream.set_nodelay(true)?;
            let random = HandshakeRandom::generate(&mut rand::rngs::OsRng, 32);
            let mut a = Initiator::new(
                local,
                uut.ntcp2.clone(),
                self.router_info.clone(),
                None,
                0,
                random,
            )?;
            let now = || unix_time_secs(SystemTime::now());
            stream.write_all(&a.write_message1(now())?).await?;
            let mut m2 = vec![0u8; a.bytes_needed()];
            stream.read_exact(&mut m2).await?;
            // A replay cache of our own: only the handshake we are making goes through it.
            let replay = ReplayCache::new(60, 16);
            a.read_message2(&m2, now(), &replay)?;
            let mut pad = vec![0u8; a.bytes_needed()];
            stream.read_exact(&mut pad).await?;
            let (m3, dp) = a.write_message3(&pad)?;
            stream.write_all(&m3).await?;
            Ok::<_, BenchError>((stream, dp))
        };
        let (stream, dp) = tokio::time::timeout(HANDSHAKE_TIMEOUT, hs)
            .await
            .map_err(|_| BenchError::Timeout("NTCP2 handshake"))??;
        let (rd, wr) = stream.into_split();
        Ok((
            FrameWriter {
                wr,
                encoder: dp.encoder,
            },
            FrameReader {
                rd,
                decoder: dp.decoder,
                buf: BytesMut::with_capacity(128 * 1024),
            },
        ))
    }
}

/// The sending half of a bench session.
pub struct FrameWriter {
    wr: OwnedWriteHalf,
    encoder: FrameEncoder,
}

impl FrameWriter {
    /// Encrypt `payload` (serialized blocks, see [`push_i2np_block`]) as one frame and write it.
    pub async fn send_payload(&mut self, payload: &[u8]) -> Result<(), BenchError> {
        let frame = self.encoder.encrypt_payload(payload)?;
        self.wr.write_all(&frame).await?;
        Ok(())
    }

    /// A DateTime block: keeps an otherwise receive-only session from looking idle.
    pub async fn send_datetime(&mut self) -> Result<(), BenchError> {
        let frame = self.encoder.encrypt_blocks(&[Block::DateTime {
            timestamp: unix_time_secs(SystemTime::now()) as u32,
        }])?;
        self.wr.write_all(&frame).await?;
        Ok(())
    }
}

/// Append an I2NP block (ntcp2.rst block type 3: 9-byte short header then body) to a frame
/// payload under construction.
pub fn push_i2np_block(
    out: &mut Vec<u8>,
    msg_type: u8,
    msg_id: u32,
    expiration_s: u32,
    body: &[u8],
) {
    // Callers keep bodies far below 64 KiB (TunnelData 1028, build messages < 2 KiB).
    let len = (9 + body.len()) as u16;
    out.push(3);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(msg_type);
    out.extend_from_slice(&msg_id.to_be_bytes());
    out.extend_from_slice(&expiration_s.to_be_bytes());
    out.extend_from_slice(body);
}

/// The receiving half of a bench session.
pub struct FrameReader {
    rd: OwnedReadHalf,
    decoder: FrameDecoder,
    buf: BytesMut,
}

impl FrameReader {
    /// The blocks of the next frame; `Ok(None)` when the peer closed the connection.
    pub async fn next_frame(&mut self) -> Result<Option<Vec<Block>>, BenchError> {
        loop {
            // In place, as a router session does (the bench must not be the slower side).
            if let Some(payload) = self.decoder.decode_in_place(&mut self.buf)? {
                return Ok(Some(parse_blocks(&payload)?));
            }
            crate::transport::ntcp2::session::top_up_read_buffer(&mut self.buf);
            if self.rd.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bench router's RouterInfo is what the bench reads as a router under test: hash, keys,
    /// published address, network id, all verified.
    #[test]
    fn uut_from_a_bench_router_info() {
        let ip: IpAddr = "198.18.0.7".parse().unwrap();
        let r = BenchRouter::generate(99, ip, 4567).unwrap();
        let uut = Uut::from_router_info(&r.router_info, None).unwrap();
        assert_eq!(uut.hash, r.hash);
        assert_eq!(uut.addr, SocketAddr::new(ip, 4567));
        assert_eq!(uut.net_id, 99);
        assert_eq!(uut.encryption_key, r.keys.encryption_public());
        assert_eq!(uut.ntcp2.static_key, r.keys.ntcp2_static_public());
        assert_eq!(uut.ntcp2.iv, r.keys.ntcp2_iv);
        assert!(!uut.floodfill);
        let other: SocketAddr = "198.18.0.8:1".parse().unwrap();
        assert_eq!(
            Uut::from_router_info(&r.router_info, Some(other))
                .unwrap()
                .addr,
            other
        );
    }

    /// Truncated, corrupted or empty input is an error, never a panic.
    #[test]
    fn bad_router_info_is_an_error() {
        let r = BenchRouter::generate(99, "198.18.0.7".parse().unwrap(), 1).unwrap();
        let ri = r.router_info.to_vec();
        assert!(Uut::from_router_info(&[], None).is_err());
        for cut in [1, 100, 387, ri.len() - 1] {
            assert!(Uut::from_router_info(&ri[..cut], None).is_err());
        }
        let mut bad = ri.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(Uut::from_router_info(&bad, None).is_err(), "bad signature");
    }

    #[test]
    fn i2np_block_layout() {
        let mut out = Vec::new();
        push_i2np_block(&mut out, 18, 0x0102_0304, 0x0a0b_0c0d, &[0xee; 3]);
        assert_eq!(
            out,
            [
                3, 0, 12, 18, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0xee, 0xee, 0xee
            ]
        );
        let blocks = parse_blocks(&Bytes::from(out)).unwrap();
        assert!(
            matches!(&blocks[..], [Block::I2np(m)] if m.msg_type == 18 && m.msg_id == 0x0102_0304)
        );
    }
}
