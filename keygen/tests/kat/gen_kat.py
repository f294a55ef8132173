#!/usr/bin/env python3
"""Independent known-answer values for tests/kat.rs, computed with pyca/cryptography
from the layouts written in the crate docs (not from the Rust code)."""
import hmac, hashlib, struct
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

def hkdf(salt, ikm, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)

raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
# RFC 7748 6.1
a = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
b_pub = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
shared = X25519PrivateKey.from_private_bytes(a).exchange(X25519PublicKey.from_public_bytes(b_pub))
node = hkdf(b"totem-keygen tgdh v1", shared, b"node secret")
node_bk = X25519PrivateKey.from_private_bytes(node).public_key().public_bytes(*raw)
print("NODE_SECRET", node.hex()); print("NODE_BK", node_bk.hex())

authkey = bytes(range(128))
mac_key = hkdf(b"totem-keygen authkey v1", authkey, b"totem-keygen key-agreement mac")
salt = hkdf(b"totem-keygen authkey v1", authkey, b"totem-keygen group salt")
print("MAC_KEY", mac_key.hex()); print("GROUP_SALT", salt.hex())
epoch = struct.pack(">IQI", 3, 0x1122334455667788, 5)
gk = hkdf(salt, node, b"totem-keygen group key" + epoch)
tk = hkdf(b"", gk, b"totem-keygen traffic chacha20poly1305" + epoch)
print("GROUP_KEY", gk.hex()); print("TRAFFIC_KEY", tk.hex())
hdr = bytes([1, 0]) + struct.pack(">I", 7) + epoch + struct.pack(">Q", 0)
nonce = struct.pack(">IQ", 7, 0)
print("ENVELOPE", (hdr + ChaCha20Poly1305(tk).encrypt(nonce, b"hello totem", hdr)).hex())

# Path update from sender 9, ring (3, 0x1122334455667788), round 2, entries (4, bk) (1, bk2)
body = struct.pack(">H", 2) + struct.pack(">H", 4) + node_bk + struct.pack(">H", 1) + bytes([9]) * 32
head = b"TK" + bytes([1, 2, 1, 0]) + struct.pack(">HIIQII", 2, 9, 3, 0x1122334455667788, 0, len(body))
seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
sk = Ed25519PrivateKey.from_private_bytes(seed)
print("ED_PUB", sk.public_key().public_bytes(*raw).hex())
signed = head + body
sig = sk.sign(signed)
frame = signed + sig
frame += hmac.new(mac_key, frame, hashlib.sha256).digest()
print("FRAME", frame.hex())
