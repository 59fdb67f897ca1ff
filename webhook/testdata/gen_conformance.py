#!/usr/bin/env python3
"""Generate conformance.json: Standard Webhooks v1.0.0 signing and
verification vectors, computed independently of saaskit's Go code.

    python3 webhook/testdata/gen_conformance.py > webhook/testdata/conformance.json

Standard library only (hmac, hashlib, base64, json). Ed25519 signatures
and public keys come from the `openssl` command line (OpenSSL 3.0 or
newer: `openssl pkeyutl -sign -rawin`). Before writing anything the script
checks itself against published values: RFC 8032 section 7.1 TEST 2 for
OpenSSL's Ed25519, the Standard Webhooks reference HMAC vector and the
reference Ed25519 vector (see README.md). The output is deterministic: no
randomness, no clock.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile

# ---------------------------------------------------------------------------
# Primitives

B64 = lambda b: base64.b64encode(b).decode("ascii")
B64_UNPADDED = lambda b: B64(b).rstrip("=")


def content(msg_id, ts, body):
    """The signed content: {msg_id}.{timestamp}.{payload}."""
    return msg_id.encode("utf-8") + b"." + str(ts).encode("ascii") + b"." + body


def hmac_sig(secret, msg_id, ts, body):
    """The base64 HMAC-SHA256 of the content (the part after "v1,")."""
    return B64(hmac.new(secret, content(msg_id, ts, body), hashlib.sha256).digest())


# PKCS#8 DER prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows.
_ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


def _openssl(args):
    return subprocess.run(["openssl"] + args, check=True, capture_output=True).stdout


def ed25519_public(seed):
    """The 32-byte public key of a seed, from openssl."""
    with tempfile.TemporaryDirectory() as d:
        key = os.path.join(d, "key.der")
        with open(key, "wb") as f:
            f.write(_ED25519_PKCS8_PREFIX + seed)
        spki = _openssl(["pkey", "-inform", "DER", "-in", key, "-pubout", "-outform", "DER"])
    assert len(spki) == 44 and spki.startswith(bytes.fromhex("302a300506032b6570032100")), spki.hex()
    return spki[-32:]


def ed25519_sign_raw(seed, message):
    """An Ed25519 signature (RFC 8032, deterministic) of message, from openssl."""
    assert message, "openssl 3.0 -rawin cannot sign an empty message"
    with tempfile.TemporaryDirectory() as d:
        key = os.path.join(d, "key.der")
        msg = os.path.join(d, "msg.bin")
        with open(key, "wb") as f:
            f.write(_ED25519_PKCS8_PREFIX + seed)
        with open(msg, "wb") as f:
            f.write(message)
        sig = _openssl(["pkeyutl", "-sign", "-rawin", "-keyform", "DER", "-inkey", key, "-in", msg])
    assert len(sig) == 64
    return sig


def ed_sig(seed, msg_id, ts, body):
    """The base64 Ed25519 signature of the content (the part after "v1a,")."""
    return B64(ed25519_sign_raw(seed, content(msg_id, ts, body)))


def whsec(secret, padded=True, prefix=True):
    s = B64(secret) if padded else B64_UNPADDED(secret)
    return ("whsec_" if prefix else "") + s


def whsk(seed, full=True, padded=True):
    raw = seed + ed25519_public(seed) if full else seed
    return "whsk_" + (B64(raw) if padded else B64_UNPADDED(raw))


def whpk(seed):
    return "whpk_" + B64(ed25519_public(seed))


def derive(label, n=32):
    """Deterministic key material: SHAKE-256 of a label."""
    return hashlib.shake_256(label.encode()).digest(n)


# ---------------------------------------------------------------------------
# Self-checks against published values

# RFC 8032 section 7.1, TEST 2 (one-byte message 0x72).
_rfc_seed = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
assert ed25519_public(_rfc_seed).hex() == "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
assert ed25519_sign_raw(_rfc_seed, b"\x72").hex() == (
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)

# Standard Webhooks reference vector (symmetric): libraries/go/webhook_test.go
# TestWebhookSign, and the same values in the JavaScript, Python, PHP, Ruby,
# C# and Java reference libraries' "sign function works" tests.
SPEC_SECRET_STR = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_SECRET = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
assert "v1," + hmac_sig(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG

# Standard Webhooks reference vector (asymmetric): libraries/go/
# webhook_asymmetric_test.go TestAsymmetricWebhookSign. The key there is the
# base64 of a 32-byte seed, passed without prefix to NewWebhookAsymmetric.
SPEC_ED_SEED = base64.b64decode("VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=")
SPEC_ED_SIG = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
assert len(SPEC_ED_SEED) == 32
assert "v1a," + ed_sig(SPEC_ED_SEED, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_ED_SIG

# ---------------------------------------------------------------------------
# Material

SECRET_A = derive("saaskit conformance secret A")  # 32 bytes: base64 ends in one '='
SECRET_B = derive("saaskit conformance secret B")
SECRET_24 = derive("saaskit conformance secret 24", 24)
SECRET_64 = derive("saaskit conformance secret 64", 64)
SECRET_23 = derive("saaskit conformance secret 23", 23)
SECRET_65 = derive("saaskit conformance secret 65", 65)
SEED_A = derive("saaskit conformance ed25519 A")
SEED_B = derive("saaskit conformance ed25519 B")
assert B64(SECRET_A).endswith("=") and not B64(SECRET_A).endswith("==")

ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"  # the example id of the specification
TS = 1674087231  # the example timestamp of the specification
BODY = b'{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485"}}'
TOL = 300  # the default tolerance, 5 minutes

vectors = []


def add(name, kind, keys, msg_id, timestamp, signature_header, expect, body=BODY, now=None,
        tolerance=TOL, header_names="webhook", source="spec", note=None):
    v = {
        "name": name,
        "kind": kind,
        "source": source,
        "keys": keys,
        "msg_id": msg_id,
        "timestamp": str(timestamp),
        "now": int(now if now is not None else (int(timestamp) if str(timestamp).isdigit() else TS)),
        "tolerance_seconds": tolerance,
    }
    try:
        v["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        v["body"] = ""
        v["body_base64"] = B64(body)
    v["signature_header"] = signature_header
    v["header_names"] = header_names
    v["expect"] = expect
    if note:
        v["note"] = note
    assert v["name"] not in {x["name"] for x in vectors}, name
    vectors.append(v)


def v1(secret, msg_id=ID, ts=TS, body=BODY):
    return "v1," + hmac_sig(secret, msg_id, ts, body)


def v1a(seed, msg_id=ID, ts=TS, body=BODY):
    return "v1a," + ed_sig(seed, msg_id, ts, body)


def flip(sig_entry, at=-5):
    """The entry with one base64 character of its signature changed (same length)."""
    version, sig = sig_entry.split(",", 1)
    i = len(sig) + at if at < 0 else at
    c = "A" if sig[i] != "A" else "B"
    return version + "," + sig[:i] + c + sig[i + 1:]


BINARY_BODY = bytes(range(256)) + b"\xff\xfe\x00\x80"
UNICODE_BODY = '{"name":"Zoë 東京 🚀","note":"line1\\nline2"}\n'.encode("utf-8")
EMPTY_BODY = b""

# ---------------------------------------------------------------------------
# Sign vectors: the exact header value a signer built with keys must produce.

add("sign/spec-reference-v1", "sign", [SPEC_SECRET_STR], SPEC_ID, SPEC_TS, SPEC_SIG, "ok",
    body=SPEC_BODY, source="spec-reference")
add("sign/spec-reference-v1-unprefixed-secret", "sign", [SPEC_SECRET_STR[len("whsec_"):]], SPEC_ID, SPEC_TS,
    SPEC_SIG, "ok", body=SPEC_BODY, source="spec-reference")
add("sign/spec-reference-v1a-seed", "sign", ["whsk_" + B64(SPEC_ED_SEED)], SPEC_ID, SPEC_TS, SPEC_ED_SIG, "ok",
    body=SPEC_BODY, source="spec-reference",
    note="the reference library takes this key without prefix; here it needs whsk_, since an unprefixed key is a symmetric secret")
add("sign/spec-reference-v1a-full-private-key", "sign", [whsk(SPEC_ED_SEED)], SPEC_ID, SPEC_TS, SPEC_ED_SIG, "ok",
    body=SPEC_BODY, source="spec-reference")
add("sign/v1-padded-secret", "sign", [whsec(SECRET_A)], ID, TS, v1(SECRET_A), "ok")
add("sign/v1-unpadded-secret", "sign", [whsec(SECRET_A, padded=False)], ID, TS, v1(SECRET_A), "ok")
add("sign/v1-unprefixed-padded-secret", "sign", [whsec(SECRET_A, prefix=False)], ID, TS, v1(SECRET_A), "ok")
add("sign/v1-unprefixed-unpadded-secret", "sign", [whsec(SECRET_A, padded=False, prefix=False)], ID, TS,
    v1(SECRET_A), "ok")
add("sign/v1-24-byte-secret", "sign", [whsec(SECRET_24)], ID, TS, v1(SECRET_24), "ok")
add("sign/v1-64-byte-secret", "sign", [whsec(SECRET_64)], ID, TS, v1(SECRET_64), "ok")
add("sign/v1-empty-body", "sign", [whsec(SECRET_A)], ID, TS, v1(SECRET_A, body=EMPTY_BODY), "ok", body=EMPTY_BODY)
add("sign/v1-binary-body", "sign", [whsec(SECRET_A)], ID, TS, v1(SECRET_A, body=BINARY_BODY), "ok",
    body=BINARY_BODY)
add("sign/v1-unicode-body", "sign", [whsec(SECRET_A)], ID, TS, v1(SECRET_A, body=UNICODE_BODY), "ok",
    body=UNICODE_BODY)
add("sign/v1-timestamp-zero", "sign", [whsec(SECRET_A)], ID, 0, v1(SECRET_A, ts=0), "ok")
add("sign/v1-timestamp-ten-digits-max", "sign", [whsec(SECRET_A)], ID, 9999999999, v1(SECRET_A, ts=9999999999), "ok")
add("sign/v1-rotation-two-secrets-in-key-order", "sign", [whsec(SECRET_A), whsec(SECRET_B)], ID, TS,
    v1(SECRET_A) + " " + v1(SECRET_B), "ok",
    note="one entry per key, space-separated, in the order the keys were given")
add("sign/v1a-seed", "sign", [whsk(SEED_A, full=False)], ID, TS, v1a(SEED_A), "ok")
add("sign/v1a-full-private-key", "sign", [whsk(SEED_A)], ID, TS, v1a(SEED_A), "ok")
add("sign/v1a-full-private-key-unpadded", "sign", [whsk(SEED_A, padded=False)], ID, TS, v1a(SEED_A), "ok")
add("sign/v1a-binary-body", "sign", [whsk(SEED_A)], ID, TS, v1a(SEED_A, body=BINARY_BODY), "ok", body=BINARY_BODY)
add("sign/v1a-empty-body", "sign", [whsk(SEED_A)], ID, TS, v1a(SEED_A, body=EMPTY_BODY), "ok", body=EMPTY_BODY)
add("sign/v1-and-v1a", "sign", [whsec(SECRET_A), whsk(SEED_A)], ID, TS, v1(SECRET_A) + " " + v1a(SEED_A), "ok")
add("sign/two-v1-and-two-v1a", "sign", [whsec(SECRET_A), whsec(SECRET_B), whsk(SEED_A), whsk(SEED_B)], ID, TS,
    " ".join([v1(SECRET_A), v1(SECRET_B), v1a(SEED_A), v1a(SEED_B)]), "ok")
add("sign/id-with-full-stop-refused", "sign", [whsec(SECRET_A)], "msg.2KWP", TS, "", "malformed",
    note="the specification forbids '.' in the id: it would make {id}.{ts}.{body} ambiguous")

# Keys a signer must refuse.
add("sign/invalid-key-empty", "sign", [""], ID, TS, "", "invalid_key", source="policy")
add("sign/invalid-key-prefix-only", "sign", ["whsec_"], ID, TS, "", "invalid_key", source="policy")
add("sign/invalid-key-not-base64", "sign", ["whsec_not*base64!"], ID, TS, "", "invalid_key", source="policy")
add("sign/invalid-key-secret-23-bytes", "sign", [whsec(SECRET_23)], ID, TS, "", "invalid_key",
    note="the specification: symmetric secrets are at least 24 bytes")
add("sign/invalid-key-secret-65-bytes", "sign", [whsec(SECRET_65)], ID, TS, "", "invalid_key",
    note="the specification: symmetric secrets are at most 512 bits")
add("sign/invalid-key-whsk-31-bytes", "sign", ["whsk_" + B64(SEED_A[:31])], ID, TS, "", "invalid_key",
    source="policy")
add("sign/invalid-key-whsk-public-half-mismatch", "sign", ["whsk_" + B64(SEED_A + ed25519_public(SEED_B))], ID, TS,
    "", "invalid_key", source="policy",
    note="a 64-byte private key whose last 32 bytes are not the public key of its seed")
add("sign/invalid-key-public-key-cannot-sign", "sign", [whpk(SEED_A)], ID, TS, "", "invalid_key", source="policy")
add("sign/invalid-key-second-of-two-empty", "sign", [whsec(SECRET_A), ""], ID, TS, "", "invalid_key",
    source="policy")

# ---------------------------------------------------------------------------
# Verify vectors: headers received, a clock, and the one outcome.

S_A = v1(SECRET_A)
S_B = v1(SECRET_B)
E_A = v1a(SEED_A)
E_B = v1a(SEED_B)

# Spec reference vector, and the forms of the secret a user may paste.
add("verify/spec-reference-v1", "verify", [SPEC_SECRET_STR], SPEC_ID, SPEC_TS, SPEC_SIG, "ok", body=SPEC_BODY,
    source="spec-reference")
add("verify/spec-reference-v1-unprefixed-secret", "verify", [SPEC_SECRET_STR[len("whsec_"):]], SPEC_ID, SPEC_TS,
    SPEC_SIG, "ok", body=SPEC_BODY, source="spec-reference")
add("verify/spec-reference-v1-svix-headers", "verify", [SPEC_SECRET_STR], SPEC_ID, SPEC_TS, SPEC_SIG, "ok",
    body=SPEC_BODY, header_names="svix", source="spec-reference")
add("verify/spec-reference-v1a", "verify", [whpk(SPEC_ED_SEED)], SPEC_ID, SPEC_TS, SPEC_ED_SIG, "ok",
    body=SPEC_BODY, source="spec-reference")
add("verify/spec-reference-v1-wrong-last-character", "verify", [SPEC_SECRET_STR], SPEC_ID, SPEC_TS,
    SPEC_SIG[:-2] + "A=", "no_match", body=SPEC_BODY, source="spec-reference")
add("verify/v1-padded-secret", "verify", [whsec(SECRET_A)], ID, TS, S_A, "ok")
add("verify/v1-unpadded-secret", "verify", [whsec(SECRET_A, padded=False)], ID, TS, S_A, "ok")
add("verify/v1-unprefixed-secret", "verify", [whsec(SECRET_A, prefix=False)], ID, TS, S_A, "ok")
add("verify/v1-unprefixed-unpadded-secret", "verify", [whsec(SECRET_A, padded=False, prefix=False)], ID, TS, S_A,
    "ok")
add("verify/v1-svix-headers", "verify", [whsec(SECRET_A)], ID, TS, S_A, "ok", header_names="svix")
add("verify/v1-svix-headers-wrong-secret", "verify", [whsec(SECRET_B)], ID, TS, S_A, "no_match",
    header_names="svix")
add("verify/v1-empty-body", "verify", [whsec(SECRET_A)], ID, TS, v1(SECRET_A, body=EMPTY_BODY), "ok",
    body=EMPTY_BODY)
add("verify/v1-binary-body", "verify", [whsec(SECRET_A)], ID, TS, v1(SECRET_A, body=BINARY_BODY), "ok",
    body=BINARY_BODY)
add("verify/v1-unicode-body", "verify", [whsec(SECRET_A)], ID, TS, v1(SECRET_A, body=UNICODE_BODY), "ok",
    body=UNICODE_BODY)

# Multiple signatures: rotation and versions.
add("verify/multi-wrong-v1-then-right-v1", "verify", [whsec(SECRET_A)], ID, TS, S_B + " " + S_A, "ok")
add("verify/multi-right-v1-then-wrong-v1", "verify", [whsec(SECRET_A)], ID, TS, S_A + " " + S_B, "ok")
add("verify/rotation-verifier-old-and-new-secret-header-new-only", "verify", [whsec(SECRET_B), whsec(SECRET_A)],
    ID, TS, S_A, "ok")
add("verify/rotation-verifier-old-and-new-secret-header-both", "verify", [whsec(SECRET_A), whsec(SECRET_B)], ID, TS,
    S_A + " " + S_B, "ok")
add("verify/rotation-neither-secret-matches", "verify", [whsec(SECRET_A), whsec(SPEC_SECRET)], ID, TS,
    S_B, "no_match")
add("verify/v1-and-v1a-verifier-secret", "verify", [whsec(SECRET_A)], ID, TS, S_A + " " + E_A, "ok")
add("verify/v1-and-v1a-verifier-public-key", "verify", [whpk(SEED_A)], ID, TS, S_A + " " + E_A, "ok")
add("verify/wrong-v1-and-right-v1a-verifier-both", "verify", [whsec(SECRET_A), whpk(SEED_A)], ID, TS,
    S_B + " " + E_A, "ok")
add("verify/unknown-version-skipped-then-v1", "verify", [whsec(SECRET_A)], ID, TS,
    "v2," + S_A[3:] + " " + S_A, "ok",
    note="the v2 entry carries the right bytes but an unknown version, so it is skipped; the v1 entry matches")
add("verify/unknown-versions-only", "verify", [whsec(SECRET_A)], ID, TS,
    "v2," + S_A[3:] + " v0," + S_A[3:] + " V1," + S_A[3:], "no_match",
    note="versions are compared exactly: V1 is not v1")
add("verify/reference-multi-sig", "verify", [SPEC_SECRET_STR], SPEC_ID, SPEC_TS,
    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " + SPEC_SIG
    + " v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", "ok", body=SPEC_BODY, source="spec-reference",
    note="the reference libraries' 'valid multi sig is valid' case, at the reference vector's timestamp")
add("verify/entry-without-comma-skipped-then-v1", "verify", [whsec(SECRET_A)], ID, TS, "v1" + S_A[3:] + " " + S_A, "ok")
add("verify/entry-without-comma-only", "verify", [whsec(SECRET_A)], ID, TS, "v1" + S_A[3:], "no_match")
add("verify/v1a-only-verifier-has-only-secret", "verify", [whsec(SECRET_A)], ID, TS, E_A, "no_match")
add("verify/v1-only-verifier-has-only-public-key", "verify", [whpk(SEED_A)], ID, TS, S_A, "no_match")
add("verify/sixteen-entries-accepted", "verify", [whsec(SECRET_A)], ID, TS, " ".join([S_B] * 15 + [S_A]), "ok",
    source="policy", note="saaskit's default MaxSignatures is 16")
add("verify/seventeen-entries-refused", "verify", [whsec(SECRET_A)], ID, TS, " ".join([S_B] * 16 + [S_A]),
    "malformed", source="policy", note="17 entries is more than the default MaxSignatures of 16, even with a valid one")

# Ed25519.
add("verify/v1a", "verify", [whpk(SEED_A)], ID, TS, E_A, "ok")
add("verify/v1a-binary-body", "verify", [whpk(SEED_A)], ID, TS, v1a(SEED_A, body=BINARY_BODY), "ok",
    body=BINARY_BODY)
add("verify/v1a-svix-headers", "verify", [whpk(SEED_A)], ID, TS, E_A, "ok", header_names="svix")
add("verify/v1a-rotation-two-public-keys", "verify", [whpk(SEED_B), whpk(SEED_A)], ID, TS, E_A, "ok")
add("verify/v1a-wrong-public-key", "verify", [whpk(SEED_B)], ID, TS, E_A, "no_match")
add("verify/v1a-modified-body", "verify", [whpk(SEED_A)], ID, TS, E_A, "no_match", body=BODY[:-1] + b"]")
add("verify/v1a-modified-signature", "verify", [whpk(SEED_A)], ID, TS, flip(E_A, 10), "no_match")
add("verify/v1a-truncated-signature", "verify", [whpk(SEED_A)], ID, TS, E_A[:-4], "no_match")
add("verify/v1a-signature-not-base64", "verify", [whpk(SEED_A)], ID, TS, "v1a,!!!!" + E_A[8:], "no_match")
add("verify/v1a-signature-too-long-after-padding", "verify", [whpk(SEED_A)], ID, TS, E_A + "A" * 200, "no_match",
    note="a valid v1a signature with base64 characters after its padding")
add("verify/v1a-signature-150-bytes", "verify", [whpk(SEED_A)], ID, TS, "v1a," + "A" * 200, "no_match",
    note="a v1a entry whose base64 decodes to 150 bytes: longer than any Ed25519 signature")
add("verify/v1a-signature-65-bytes", "verify", [whpk(SEED_A)], ID, TS,
    "v1a," + B64(base64.b64decode(E_A[4:]) + b"\x00"), "no_match")
add("verify/v1a-empty-signature", "verify", [whpk(SEED_A)], ID, TS, "v1a,", "no_match")
add("verify/v1a-signature-under-v1-label", "verify", [whsec(SECRET_A), whpk(SEED_A)], ID, TS, "v1," + E_A[4:],
    "no_match", note="an Ed25519 signature labelled v1 is compared as an HMAC and fails")
add("verify/v1-signature-under-v1a-label", "verify", [whsec(SECRET_A), whpk(SEED_A)], ID, TS, "v1a," + S_A[3:],
    "no_match")

# Negatives: the signed content was changed.
add("verify/wrong-secret", "verify", [whsec(SECRET_B)], ID, TS, S_A, "no_match")
add("verify/modified-body-one-byte", "verify", [whsec(SECRET_A)], ID, TS, S_A, "no_match",
    body=BODY.replace(b"contact.created", b"contact.createe"))
add("verify/body-with-trailing-newline", "verify", [whsec(SECRET_A)], ID, TS, S_A, "no_match", body=BODY + b"\n")
add("verify/modified-id", "verify", [whsec(SECRET_A)], ID[:-1] + "X", TS, S_A, "no_match")
add("verify/modified-timestamp", "verify", [whsec(SECRET_A)], ID, TS + 1, S_A, "no_match", now=TS)
add("verify/signature-right-length-wrong-bytes", "verify", [whsec(SECRET_A)], ID, TS, flip(S_A), "no_match")
add("verify/signature-all-A-right-length", "verify", [whsec(SECRET_A)], ID, TS, "v1," + "A" * 43 + "=", "no_match")
add("verify/signature-truncated", "verify", [whsec(SECRET_A)], ID, TS, S_A[:-8], "no_match")
add("verify/signature-without-padding", "verify", [whsec(SECRET_A)], ID, TS, S_A.rstrip("="), "no_match",
    note="signatures are compared as the exact base64 string the reference libraries produce")
add("verify/signature-empty-after-comma", "verify", [whsec(SECRET_A)], ID, TS, "v1,", "no_match")
add("verify/signature-of-other-content-same-secret", "verify", [whsec(SECRET_A)], ID, TS,
    v1(SECRET_A, msg_id="msg_other"), "no_match")

# Timestamp tolerance (default 300 s): equal to the tolerance is accepted.
for delta, expect in [(-301, "too_old"), (-300, "ok"), (-299, "ok"), (299, "ok"), (300, "ok"), (301, "too_new")]:
    ts = TS + delta
    label = ("minus" if delta < 0 else "plus") + "-" + str(abs(delta))
    add("verify/timestamp-now-" + label, "verify", [whsec(SECRET_A)], ID, ts, v1(SECRET_A, ts=ts), expect, now=TS)
for delta, expect in [(-61, "too_old"), (-60, "ok"), (60, "ok"), (61, "too_new")]:
    ts = TS + delta
    label = ("minus" if delta < 0 else "plus") + "-" + str(abs(delta))
    add("verify/tolerance-60s-timestamp-now-" + label, "verify", [whsec(SECRET_A)], ID, ts, v1(SECRET_A, ts=ts),
        expect, now=TS, tolerance=60)
add("verify/timestamp-too-old-wrong-signature", "verify", [whsec(SECRET_A)], ID, TS - 3600, S_B, "too_old", now=TS,
    note="the timestamp is checked before any signature")
add("verify/timestamp-far-future", "verify", [whsec(SECRET_A)], ID, TS + 86400, v1(SECRET_A, ts=TS + 86400),
    "too_new", now=TS)
add("verify/v1a-timestamp-too-old", "verify", [whpk(SEED_A)], ID, TS - 301, v1a(SEED_A, ts=TS - 301), "too_old",
    now=TS)
add("verify/reference-timestamp-verified-later", "verify", [SPEC_SECRET_STR], SPEC_ID, SPEC_TS, SPEC_SIG,
    "too_old", body=SPEC_BODY, now=SPEC_TS + 301, source="spec-reference")

# Malformed headers.
add("verify/id-with-full-stop", "verify", [whsec(SECRET_A)], "msg_2KWP.BgLl", TS, v1(SECRET_A, msg_id="msg_2KWP.BgLl"),
    "malformed", note="rejected even though the signature over the literal content is valid")
add("verify/id-with-space", "verify", [whsec(SECRET_A)], "msg 2KWP", TS, v1(SECRET_A, msg_id="msg 2KWP"),
    "malformed", source="policy")
add("verify/id-256-bytes", "verify", [whsec(SECRET_A)], "m" * 256, TS, v1(SECRET_A, msg_id="m" * 256), "ok",
    source="policy")
add("verify/id-257-bytes", "verify", [whsec(SECRET_A)], "m" * 257, TS, v1(SECRET_A, msg_id="m" * 257),
    "malformed", source="policy")
for name, ts in [("fraction", "1674087231.5"), ("full-stop-only", "1674087231."), ("letters", "abc"),
                 ("negative", "-5"), ("plus-sign", "+5"), ("hex", "0x63c8a23f"), ("exponent", "1.674087231e9"),
                 ("leading-space", " 1674087231"), ("twenty-digits", "16740872310000000000")]:
    add("verify/timestamp-" + name, "verify", [whsec(SECRET_A)], ID, ts, S_A, "malformed", now=TS,
        source="spec", note="webhook-timestamp is an integer number of Unix seconds")
OVERSIZED = S_A + " v1," + "A" * (8193 - len(S_A) - 4)
assert len(OVERSIZED) == 8193
add("verify/signature-header-over-8KiB", "verify", [whsec(SECRET_A)], ID, TS,
    OVERSIZED, "malformed", source="policy",
    note="8193 bytes; saaskit bounds the signature header at 8 KiB")

# Missing headers: an empty value counts as absent.
add("verify/missing-id", "verify", [whsec(SECRET_A)], "", TS, S_A, "missing_header")
add("verify/missing-timestamp", "verify", [whsec(SECRET_A)], ID, "", S_A, "missing_header", now=TS,
    note="an empty timestamp is a missing header, not a malformed one")
add("verify/missing-signature", "verify", [whsec(SECRET_A)], ID, TS, "", "missing_header")
add("verify/missing-all", "verify", [whsec(SECRET_A)], "", "", "", "missing_header", now=TS)
add("verify/missing-id-svix-headers", "verify", [whsec(SECRET_A)], "", TS, S_A, "missing_header", header_names="svix")

# Keys a verifier must refuse.
add("verify/invalid-key-empty", "verify", [""], ID, TS, S_A, "invalid_key", source="policy")
add("verify/invalid-key-no-keys", "verify", [], ID, TS, S_A, "invalid_key", source="policy")
add("verify/invalid-key-prefix-only", "verify", ["whsec_"], ID, TS, S_A, "invalid_key", source="policy")
add("verify/invalid-key-secret-23-bytes", "verify", [whsec(SECRET_23)], ID, TS, S_A, "invalid_key")
add("verify/invalid-key-whpk-31-bytes", "verify", ["whpk_" + B64(ed25519_public(SEED_A)[:31])], ID, TS, E_A,
    "invalid_key", source="policy")
add("verify/invalid-key-whpk-not-base64", "verify", ["whpk_***"], ID, TS, E_A, "invalid_key", source="policy")
add("verify/invalid-key-secret-key-given-to-verifier", "verify", [whsk(SEED_A)], ID, TS, E_A, "invalid_key",
    source="policy", note="a verifier takes the whpk_ public key, never the whsk_ secret key")
add("verify/invalid-key-second-of-two-empty", "verify", [whsec(SECRET_A), ""], ID, TS, S_A, "invalid_key",
    source="policy")

out = {
    "description": "Standard Webhooks v1.0.0 signing and verification conformance vectors. See README.md.",
    "generator": "python3 webhook/testdata/gen_conformance.py > webhook/testdata/conformance.json",
    "vectors": vectors,
}
json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
sys.stdout.write("\n")
