//! The assertion commitment (SPEC §3.6).
//!
//! An engine hides its verdicts until the reveal round behind
//! `keccak256(be32(verdicts ^ uint256(keccak256(be32(nonce))) ^ uint256(address)))`.
//! Every term is a 32-byte big-endian word: the original client forgot to
//! left-pad the nonce and address words and so produced, for about one nonce
//! in 128, a commitment its own reveal could not match. XOR-ing the author's
//! address in stops one engine from copying another's commitment.

use crate::address::Address;
use crate::bits::Bits256;
use crate::hash::{keccak256, H256};

/// The commitment of `author` to `verdicts` under `nonce`.
pub fn commitment(verdicts: &Bits256, nonce: &H256, author: &Address) -> H256 {
    let nonce_hash = keccak256(nonce.0);
    let address = author.to_word();
    let verdicts = verdicts.to_be_bytes();
    let mut word = [0u8; 32];
    for (i, w) in word.iter_mut().enumerate() {
        *w = verdicts[i] ^ nonce_hash.0[i] ^ address[i];
    }
    keccak256(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_nonces_are_left_padded() {
        // Nonce 1 must hash as 31 zero bytes and a 1, not as the single byte 1.
        let mut one = [0u8; 32];
        one[31] = 1;
        let padded = commitment(&Bits256::EMPTY, &H256(one), &Address::ZERO);
        assert_eq!(padded, keccak256(keccak256(one).0));
        assert_ne!(padded, keccak256(keccak256([1u8]).0));
    }

    #[test]
    fn depends_on_every_input() {
        let nonce = keccak256(b"nonce");
        let a = Address([7; 20]);
        let base = commitment(&Bits256::from_indices([0]), &nonce, &a);
        assert_ne!(base, commitment(&Bits256::from_indices([1]), &nonce, &a));
        assert_ne!(
            base,
            commitment(&Bits256::from_indices([0]), &keccak256(b"n"), &a)
        );
        assert_ne!(
            base,
            commitment(&Bits256::from_indices([0]), &nonce, &Address([8; 20]))
        );
    }
}
