#!/usr/bin/env python3
"""Cross-check vectors for swarm-protocol, made by an independent implementation.

Keccak comes from pycryptodome, secp256k1 from coincurve (libsecp256k1, RFC 6979
nonces, so the Rust side must produce byte-identical signatures), EIP-55 and the
commitment are written out here from their definitions, and the keystores are
made by eth-account. Every input is derived from fixed seeds, so running this
twice writes the same file.

Writes crates/swarm-protocol/tests/vectors/vectors.json (see README.md).
"""

import json
import sys
import uuid
from pathlib import Path

import coincurve
import eth_keyfile.keyfile
from Crypto.Hash import keccak
from eth_account import Account

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "swarm-protocol" / "tests" / "vectors" / "vectors.json"

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def private_key(i: int) -> bytes:
    key = keccak256(f"swarm vector {i}".encode())
    assert 0 < int.from_bytes(key, "big") < SECP256K1_N
    return key


def address_bytes(key: bytes) -> bytes:
    public = coincurve.PublicKey.from_secret(key).format(compressed=False)
    return keccak256(public[1:])[12:]


def eip55(address: bytes) -> str:
    """EIP-55: uppercase a hex letter when its nibble of keccak(lowercase hex) is >= 8."""
    lower = address.hex()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c
        for i, c in enumerate(lower)
    )


def self_check() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    assert eip55(address_bytes((1).to_bytes(32, "big"))) == (
        "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    )
    # The four examples of EIP-55 itself.
    for text in [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ]:
        assert eip55(bytes.fromhex(text[2:])) == text


# (a) keccak256 -------------------------------------------------------------


def keccak_vectors() -> list:
    messages = [
        b"",
        b"abc",
        b"The quick brown fox jumps over the lazy dog",
        b"a" * 135,  # one byte short of the rate (136 bytes)
        b"b" * 136,  # exactly the rate: padding takes a whole block
        b"c" * 137,
        bytes(range(256)),  # binary, all byte values
        "Ünïcödé ✓ 🐝".encode(),
        b"swarm" * 1000,  # long, many blocks
    ]
    return [{"input": hex0x(m), "hash": hex0x(keccak256(m))} for m in messages]


# (b) private key -> EIP-55 address -----------------------------------------


def address_vectors() -> list:
    keys = [private_key(i) for i in range(14)]
    keys.append((1).to_bytes(32, "big"))
    keys.append((SECP256K1_N - 1).to_bytes(32, "big"))
    return [{"private_key": hex0x(k), "address": eip55(address_bytes(k))} for k in keys]


# (c) signed transactions ---------------------------------------------------


def raw_tx(i: int, signer: str, other: str) -> str:
    guid = str(uuid.UUID(bytes=keccak256(f"bounty {i}".encode())[:16], version=4))
    kinds = [
        ("nct:Transfer", {"to": other, "amount": str(1000 * (i + 1))}),
        (
            "bounty:Post",
            {
                "guid": guid,
                "artifact_type": "file",
                "amount": "62500000000000000",
                "uri": hex0x(keccak256(f"bundle {i}".encode())),
                "num_artifacts": i % 4 + 1,
                "duration": 20,
                "metadata": [{"filename": "résumé.pdf", "mimetype": "application/pdf"}],
            },
        ),
        (
            "bounty:Assert",
            {
                "bounty_guid": guid,
                "mask": hex(0b101 + i),
                "bids": ["62500000000000000", "1000000000000000000"],
                "commitment": hex0x(keccak256(f"commitment {i}".encode())),
            },
        ),
        (
            "bounty:Reveal",
            {
                "bounty_guid": guid,
                "nonce": hex0x(keccak256(f"nonce {i}".encode())),
                "verdicts": hex(i),
                "metadata": "{\"scanner\":\"clamav\"}",
            },
        ),
        ("bounty:Vote", {"bounty_guid": guid, "votes": hex(0xF0 ^ i)}),
        ("staking:Deposit", {"amount": "10000000000000000000000000"}),
        ("staking:Withdraw", {"amount": "1"}),
        ("community:AddArbiter", {"arbiter": other}),
    ]
    name, data = kinds[i % len(kinds)]
    tx = {
        "name": name,
        "from": signer,
        "community": "dev" if i % 3 else "prod",
        "expires": 12 + 37 * i,
        "data": data,
    }
    return json.dumps(tx, separators=(",", ":"), ensure_ascii=False)


def signature_vectors() -> list:
    out = []
    for i in range(16):
        key = private_key(i % 12)
        signer = eip55(address_bytes(key))
        other = eip55(address_bytes(private_key(i + 100)))
        raw = raw_tx(i, signer, other)
        digest = keccak256(raw.encode("utf-8"))
        # 64 bytes r || s, then the recovery id 0 or 1.
        sig = coincurve.PrivateKey(key).sign_recoverable(digest, hasher=None)
        assert int.from_bytes(sig[32:64], "big") <= SECP256K1_N // 2, "low s"
        recovered = coincurve.PublicKey.from_signature_and_message(sig, digest, hasher=None)
        recovered_address = eip55(keccak256(recovered.format(compressed=False)[1:])[12:])
        assert recovered_address == signer
        out.append(
            {
                "private_key": hex0x(key),
                "raw": raw,
                "tx_hash": hex0x(digest),
                "signature": hex0x(sig[:64] + bytes([27 + sig[64]])),
                "signer": recovered_address,
            }
        )
    return out


# (d) commitments -----------------------------------------------------------


def commitment(verdicts: int, nonce: int, address: bytes) -> bytes:
    nonce_hash = int.from_bytes(keccak256(nonce.to_bytes(32, "big")), "big")
    word = verdicts ^ nonce_hash ^ int.from_bytes(address, "big")
    return keccak256(word.to_bytes(32, "big"))


def commitment_vectors() -> list:
    full = lambda tag: int.from_bytes(keccak256(tag.encode()), "big")  # noqa: E731
    verdicts = [
        0,
        1,
        0x5,
        0xFF,
        1 << 255,
        (1 << 256) - 1,
        full("verdicts a"),
        full("verdicts b") >> 200,
    ]
    nonces = [
        1,
        255,
        256,
        1 << 64,
        (1 << 128) + 1,
        1 << 255,
        (1 << 256) - 1,
        full("nonce a") >> 8,  # leading zero byte
        full("nonce b"),
        full("nonce c"),
        full("nonce d"),
        full("nonce e"),
    ]
    addresses = [bytes(20), b"\xff" * 20] + [address_bytes(private_key(i)) for i in range(4)]
    out = []
    for i in range(24):
        v = verdicts[i % len(verdicts)]
        n = nonces[i % len(nonces)]
        a = addresses[i % len(addresses)]
        out.append(
            {
                "verdicts": hex(v),
                "nonce": hex0x(n.to_bytes(32, "big")),
                "address": eip55(a),
                "commitment": hex0x(commitment(v, n, a)),
            }
        )
    return out


# (e) keystores by eth-account ----------------------------------------------


class SeededRandom:
    """Stands in for Crypto.Random inside eth-keyfile: salts, IVs and ids from a seed."""

    def __init__(self, seed: str):
        self.seed = seed
        self.counter = 0

    def get_random_bytes(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += keccak256(f"{self.seed} {self.counter}".encode())
            self.counter += 1
        return out[:n]


def keystore_vectors() -> list:
    # (label, kdf, work factor, scrypt r, scrypt p, password, key index)
    cases = [
        ("eth-account scrypt", "scrypt", 4096, 8, 1, "swarm password", 200),
        ("eth-account pbkdf2", "pbkdf2", 4096, None, None, "pässwörd 🔑", 201),
        # eth-account before eth-keyfile 0.7 used r = 1, p = 8, as the Web3
        # Secret Storage test vector does; n = 2^16 is already beyond RFC
        # 7914's (erroneous) bound n < 2^(16 r).
        ("legacy eth-account scrypt r=1 p=8", "scrypt", 65536, 1, 8, "legacy", 202),
    ]
    module = eth_keyfile.keyfile
    saved = (module.Random, module.uuid4, module.SCRYPT_R, module.SCRYPT_P)
    out = []
    try:
        for label, kdf, work, r, p, password, index in cases:
            rng = SeededRandom(label)
            module.Random = rng
            module.uuid4 = lambda: uuid.UUID(bytes=rng.get_random_bytes(16), version=4)
            if r is not None:
                module.SCRYPT_R, module.SCRYPT_P = r, p
            key = private_key(index)
            keystore = Account.encrypt(key, password, kdf=kdf, iterations=work)
            assert Account.decrypt(keystore, password) == key
            out.append(
                {
                    "label": label,
                    "password": password,
                    "private_key": hex0x(key),
                    "address": eip55(address_bytes(key)),
                    "keystore": keystore,
                }
            )
    finally:
        module.Random, module.uuid4, module.SCRYPT_R, module.SCRYPT_P = saved
    return out


def main() -> int:
    self_check()
    vectors = {
        "about": "Made by tools/vectors/gen_vectors.py (pycryptodome, coincurve, "
        "eth-account); do not edit by hand.",
        "keccak256": keccak_vectors(),
        "addresses": address_vectors(),
        "signatures": signature_vectors(),
        "commitments": commitment_vectors(),
        "keystores": keystore_vectors(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(vectors, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
