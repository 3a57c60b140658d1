//! Who sent a request, as far as the mock can tell: the service account of a self-signed JWT
//! bearer token (what Google's client libraries send for a service-account key file). The
//! mock checks no signature — it only names the caller, so a test can tell which of several
//! clients made a call (the mock EC2 does the same with the SigV4 access key).

use http::HeaderMap;
use http::header::AUTHORIZATION;

/// The `sub` (else `iss`) claim of a `Bearer` JWT in `Authorization`; `None` for anonymous
/// requests and tokens that are not JWTs.
pub fn principal(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&base64url(payload)?).ok()?;
    claims
        .get("sub")
        .or_else(|| claims.get("iss"))?
        .as_str()
        .map(str::to_string)
}

/// Decodes unpadded base64url (RFC 4648 §5), as JWT segments are written.
fn base64url(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_the_subject_of_a_bearer_jwt_and_nothing_else() {
        // {"alg":"RS256"} . {"iss":"a@p.iam.gserviceaccount.com","sub":"a@p.iam.gserviceaccount.com"} . sig
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhQHAuaWFtLmdzZXJ2aWNlYWNjb3VudC5jb20iLCJzdWIiOiJhQHAuaWFtLmdzZXJ2aWNlYWNjb3VudC5jb20ifQ.c2ln";
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, format!("Bearer {jwt}").parse().unwrap());
        assert_eq!(
            principal(&h).as_deref(),
            Some("a@p.iam.gserviceaccount.com")
        );
        h.insert(AUTHORIZATION, "Bearer ya29.opaque".parse().unwrap());
        assert_eq!(principal(&h), None);
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(principal(&h), None);
        assert_eq!(principal(&HeaderMap::new()), None);
        assert_eq!(base64url("aGk").unwrap(), b"hi");
        assert_eq!(base64url("a+b"), None);
    }
}
