//! Tunnel layer crypto (tunnels/implementation "Participant Processing"):
//!
//! ```text
//! IV   = AES-256-ECB-encrypt(ivKey, IV)
//! data = AES-256-CBC-encrypt(layerKey, IV, data)      (1008 bytes, 63 blocks)
//! IV   = AES-256-ECB-encrypt(ivKey, IV)
//! ```
//!
//! Every transit role (participant, IBGW, OBEP) runs this "encrypt" direction only, so a hop
//! keeps two encrypt-only key schedules, expanded once when the tunnel is created. The inverse
//! ([`LayerDecryptor`]) is what a tunnel creator runs (outbound gateway pre-processing, inbound
//! endpoint post-processing); it lives here so tests and the bench can drive a whole tunnel.

use aes::Aes256Enc;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};

use super::{TUNNEL_ENCRYPTED_LEN, TUNNEL_PAYLOAD_LEN};

/// The encrypt-direction layer transform of one hop.
#[derive(Clone)]
pub struct LayerCipher {
    layer: Aes256Enc,
    iv: Aes256Enc,
}

impl LayerCipher {
    pub fn new(layer_key: &[u8; 32], iv_key: &[u8; 32]) -> Self {
        Self {
            layer: Aes256Enc::new(layer_key.into()),
            iv: Aes256Enc::new(iv_key.into()),
        }
    }

    /// Transform `payload` = IV (16) || data (1008) in place.
    pub fn encrypt(&self, payload: &mut [u8; TUNNEL_PAYLOAD_LEN]) {
        let (iv, data) = payload.split_at_mut(16);
        let iv = GenericArray::from_mut_slice(iv);
        self.iv.encrypt_block(iv);
        // CBC by hand over the fixed 63 blocks: no padding, no per-message cipher object.
        let mut prev = *iv;
        for block in data.chunks_exact_mut(16) {
            let b = GenericArray::from_mut_slice(block);
            for (x, p) in b.iter_mut().zip(prev.iter()) {
                *x ^= *p;
            }
            self.layer.encrypt_block(b);
            prev.copy_from_slice(b);
        }
        self.iv.encrypt_block(iv);
    }

    /// Transform the 1024-byte payload region of a slice (e.g. inside a TunnelData message
    /// buffer). Returns false if `payload` is not exactly 1024 bytes.
    #[must_use]
    pub fn encrypt_slice(&self, payload: &mut [u8]) -> bool {
        match <&mut [u8; TUNNEL_PAYLOAD_LEN]>::try_from(payload) {
            Ok(p) => {
                self.encrypt(p);
                true
            }
            Err(_) => false,
        }
    }
}

/// The inverse transform: what a creator applies per hop to undo (or pre-undo) that hop's
/// [`LayerCipher::encrypt`].
#[derive(Clone)]
pub struct LayerDecryptor {
    layer: aes::Aes256,
    iv: aes::Aes256,
}

impl LayerDecryptor {
    pub fn new(layer_key: &[u8; 32], iv_key: &[u8; 32]) -> Self {
        Self {
            layer: aes::Aes256::new(layer_key.into()),
            iv: aes::Aes256::new(iv_key.into()),
        }
    }

    pub fn decrypt(&self, payload: &mut [u8; TUNNEL_PAYLOAD_LEN]) {
        let (iv, data) = payload.split_at_mut(16);
        let iv = GenericArray::from_mut_slice(iv);
        self.iv.decrypt_block(iv);
        let mut prev = *iv;
        debug_assert_eq!(data.len(), TUNNEL_ENCRYPTED_LEN);
        for block in data.chunks_exact_mut(16) {
            let b = GenericArray::from_mut_slice(block);
            let saved = *b;
            self.layer.decrypt_block(b);
            for (x, p) in b.iter_mut().zip(prev.iter()) {
                *x ^= *p;
            }
            prev = saved;
        }
        self.iv.decrypt_block(iv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answer computed independently with OpenSSL (`src/tunnel/testdata/layer_vector.sh`
    /// holds the exact commands): layer key 00..1f, IV key 20..3f, IV 40..4f, data byte i =
    /// (i * 7 + 3) mod 256.
    #[test]
    fn participant_transform_matches_openssl() {
        let layer: [u8; 32] = std::array::from_fn(|i| i as u8);
        let ivk: [u8; 32] = std::array::from_fn(|i| 0x20 + i as u8);
        let mut p = [0u8; TUNNEL_PAYLOAD_LEN];
        for (i, b) in p[..16].iter_mut().enumerate() {
            *b = 0x40 + i as u8;
        }
        for (i, b) in p[16..].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        let orig = p;
        LayerCipher::new(&layer, &ivk).encrypt(&mut p);
        let want = include_str!("testdata/layer_vector.hex");
        let want: Vec<u8> = (0..want.trim().len() / 2)
            .map(|i| u8::from_str_radix(&want.trim()[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(want.len(), TUNNEL_PAYLOAD_LEN);
        assert_eq!(&p[..], &want[..]);
        LayerDecryptor::new(&layer, &ivk).decrypt(&mut p);
        assert_eq!(p, orig);
    }

    #[test]
    fn encrypt_slice_checks_length() {
        let c = LayerCipher::new(&[1; 32], &[2; 32]);
        assert!(!c.encrypt_slice(&mut [0u8; 1023]));
        let mut a = [0u8; 1024];
        assert!(c.encrypt_slice(&mut a));
        assert_ne!(a, [0u8; 1024]);
    }
}
