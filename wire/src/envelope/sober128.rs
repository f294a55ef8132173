//! SOBER-128 used as a keyed PRNG, with the *old* libtomcrypt semantics that corosync 1.x
//! and openais 0.80 embed (`start`, `add_entropy`, `read`).
//!
//! Semantics that matter for interoperability:
//! * `start` fills the 17-word register with Fibonacci numbers (1, 1, 2, 3, ...) and sets the
//!   non-linear constant to `0x6996c53a`.
//! * The first `add_entropy` is the key: each little-endian word is added into register word 15,
//!   the register is stepped and the non-linear output is XORed into word 4; then the key length
//!   in bytes is added to word 15, the register is diffused (17 rounds), a new constant is drawn
//!   and the register is saved.
//! * Every later `add_entropy` is an IV: the saved keyed register is restored and the same loading
//!   (words, length, diffusion) is applied, keeping the constant.
//! * `read` XORs keystream into the caller's buffer (little-endian words, leftover bytes of a
//!   partial word are kept for the next call).

use super::sober128_tables::{MULTAB, SBOX};
use super::EnvelopeError;

/// Register length in words.
const N: usize = 17;
/// Non-linear constant used while loading the key.
const INITKONST: u32 = 0x6996_c53a;
/// Register word that receives key words.
const KEYP: usize = 15;
/// Register word that receives non-linear feedback during loading.
const FOLDP: usize = 4;
/// Upper bound on attempts to draw a constant with a non-zero top byte (never reached in practice:
/// each attempt succeeds with probability 255/256).
const MAX_KONST_ATTEMPTS: usize = 1 << 16;

/// A SOBER-128 PRNG instance with the old libtomcrypt `sober128_*` behaviour.
#[derive(Clone)]
pub struct Sober128Prng {
    /// Working register, logical word 0 first.
    r: [u32; N],
    /// Register saved right after keying, restored by every IV load.
    init_r: [u32; N],
    /// Key-dependent non-linear constant.
    konst: u32,
    /// Unused keystream bits of the last partial word (lowest byte next).
    sbuf: u32,
    /// Number of unused bits in `sbuf` (0, 8, 16 or 24).
    nbuf: u32,
    /// True until the first `add_entropy` (which is the key).
    expecting_key: bool,
}

impl Default for Sober128Prng {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Sober128Prng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key-dependent state.
        f.debug_struct("Sober128Prng")
            .field("expecting_key", &self.expecting_key)
            .finish_non_exhaustive()
    }
}

impl Sober128Prng {
    /// Returns a freshly started PRNG (the `sober128_start` state): no key loaded yet.
    pub fn new() -> Self {
        let mut r = [0u32; N];
        r[0] = 1;
        r[1] = 1;
        for i in 2..N {
            r[i] = r[i - 1].wrapping_add(r[i - 2]);
        }
        Sober128Prng {
            r,
            init_r: [0; N],
            konst: INITKONST,
            sbuf: 0,
            nbuf: 0,
            expecting_key: true,
        }
    }

    /// Convenience: a PRNG keyed with `key` and then loaded with `iv` (both multiples of 4 bytes).
    pub fn keyed(key: &[u8], iv: &[u8]) -> Result<Self, EnvelopeError> {
        let mut prng = Self::new();
        prng.add_entropy(key)?;
        prng.add_entropy(iv)?;
        Ok(prng)
    }

    /// Feeds `buf`: the first call loads the key, later calls load an IV on top of the saved keyed
    /// state. The length must be a multiple of 4 (corosync asserts this).
    pub fn add_entropy(&mut self, buf: &[u8]) -> Result<(), EnvelopeError> {
        if buf.len() % 4 != 0 {
            return Err(EnvelopeError::Config {
                field: "sober128 entropy",
                detail: format!("length {} is not a multiple of 4", buf.len()),
            });
        }
        if !self.expecting_key {
            self.r = self.init_r;
        }
        for word in buf.chunks_exact(4) {
            let k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            self.r[KEYP] = self.r[KEYP].wrapping_add(k);
            self.cycle();
            let nl = self.nltap();
            self.r[FOLDP] ^= nl;
        }
        // The byte length is folded in as a 32-bit quantity (libtomcrypt truncates it too).
        self.r[KEYP] = self.r[KEYP].wrapping_add(buf.len() as u32);
        self.diffuse();
        if self.expecting_key {
            self.gen_konst();
            self.init_r = self.r;
            self.expecting_key = false;
        }
        self.nbuf = 0;
        self.sbuf = 0;
        Ok(())
    }

    /// XORs `buf.len()` bytes of keystream into `buf` (reading into a zeroed buffer yields raw
    /// keystream).
    pub fn read(&mut self, buf: &mut [u8]) {
        let mut rest: &mut [u8] = buf;
        // Leftover bytes of a previous partial word come first.
        while self.nbuf != 0 {
            let Some((first, tail)) = rest.split_first_mut() else {
                return;
            };
            *first ^= (self.sbuf & 0xff) as u8;
            self.sbuf >>= 8;
            self.nbuf -= 8;
            rest = tail;
        }
        let mut words = rest.chunks_exact_mut(4);
        for word in &mut words {
            self.cycle();
            let ks = self.nltap().to_le_bytes();
            for (b, k) in word.iter_mut().zip(ks) {
                *b ^= k;
            }
        }
        let tail = words.into_remainder();
        if !tail.is_empty() {
            self.cycle();
            self.sbuf = self.nltap();
            self.nbuf = 32;
            for b in tail {
                *b ^= (self.sbuf & 0xff) as u8;
                self.sbuf >>= 8;
                self.nbuf -= 8;
            }
        }
    }

    /// Steps the LFSR once; logical word 0 leaves and the new word enters at position 16.
    fn cycle(&mut self) {
        let r0 = self.r[0];
        let new = self.r[15] ^ self.r[4] ^ (r0 << 8) ^ MULTAB[(r0 >> 24) as usize];
        self.r.copy_within(1.., 0);
        self.r[N - 1] = new;
    }

    /// The non-linear filter over the current register.
    fn nltap(&self) -> u32 {
        let r = &self.r;
        let mut t = r[0].wrapping_add(r[16]);
        t ^= SBOX[(t >> 24) as usize];
        t = t.rotate_right(8);
        t = (t.wrapping_add(r[1]) ^ self.konst).wrapping_add(r[6]);
        t ^= SBOX[(t >> 24) as usize];
        t.wrapping_add(r[13])
    }

    /// 17 rounds of stepping with the filter output folded into word 4.
    fn diffuse(&mut self) {
        for _ in 0..N {
            self.cycle();
            let t = self.nltap();
            self.r[FOLDP] ^= t;
        }
    }

    /// Draws the key-dependent constant: first filter output whose top byte is non-zero.
    fn gen_konst(&mut self) {
        let mut newkonst = 0;
        for _ in 0..MAX_KONST_ATTEMPTS {
            self.cycle();
            newkonst = self.nltap();
            if newkonst & 0xff00_0000 != 0 {
                break;
            }
        }
        self.konst = newkonst;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Spec §1.2 known-answer vector (computed with corosync 1.4.10's own C code).
    #[test]
    fn key_derivation_matches_corosync_kat() {
        let authkey: Vec<u8> = (0u8..0x80).collect();
        let salt: Vec<u8> = (0xa0u8..0xb0).collect();
        let mut prng = Sober128Prng::keyed(&authkey, &salt).unwrap();
        let mut keys = [0u8; 48];
        prng.read(&mut keys);
        assert_eq!(keys[0..16], hex("628e965fceb4fd1efdddda684f0ea924")[..]);
        assert_eq!(keys[16..32], hex("06c0379079070a97d2c6880a6d6b67ae")[..]);
        assert_eq!(keys[32..48], hex("4548f592e522e18c6ae5752c468ad86b")[..]);
    }

    #[test]
    fn stream_matches_corosync_kat() {
        let iv = hex("628e965fceb4fd1efdddda684f0ea924");
        let key = hex("06c0379079070a97d2c6880a6d6b67ae");
        let mut prng = Sober128Prng::keyed(&key, &iv).unwrap();
        let mut msg = b"Hello, totem!".to_vec();
        prng.read(&mut msg);
        assert_eq!(msg, hex("eac5eafeb7802b31d83244c443"));
    }

    /// Reading in odd-sized pieces must give the same keystream as one big read (libtomcrypt
    /// keeps the unused bytes of a partial word).
    #[test]
    fn split_reads_equal_one_read() {
        let key: Vec<u8> = (0u8..16).collect();
        let iv = [7u8; 16];
        let mut a = Sober128Prng::keyed(&key, &iv).unwrap();
        let mut whole = [0u8; 200];
        a.read(&mut whole);
        let mut b = Sober128Prng::keyed(&key, &iv).unwrap();
        let mut pieces = [0u8; 200];
        let mut off = 0;
        for len in [1usize, 3, 2, 5, 68, 7, 70, 4, 40] {
            b.read(&mut pieces[off..off + len]);
            off += len;
        }
        assert_eq!(off, 200);
        assert_eq!(whole, pieces);
    }

    /// A second IV load restores the keyed state, so the same IV gives the same stream.
    #[test]
    fn iv_reload_restores_keyed_state() {
        let key: Vec<u8> = (0u8..128).collect();
        let mut p = Sober128Prng::new();
        p.add_entropy(&key).unwrap();
        p.add_entropy(&[1u8; 16]).unwrap();
        let mut first = [0u8; 16];
        p.read(&mut first);
        p.add_entropy(&[2u8; 16]).unwrap();
        p.add_entropy(&[1u8; 16]).unwrap();
        let mut again = [0u8; 16];
        p.read(&mut again);
        assert_eq!(first, again);
    }

    #[test]
    fn odd_entropy_length_is_an_error() {
        let mut p = Sober128Prng::new();
        assert!(matches!(
            p.add_entropy(&[0u8; 5]),
            Err(EnvelopeError::Config { .. })
        ));
    }
}
