//! Image references, parsed and normalized as `distribution/reference` v0.6.0 does
//! (`ParseNormalizedNamed`, `FamiliarString`), so that `busybox`,
//! `docker.io/library/busybox:latest` and `index.docker.io/library/busybox:latest` are one name.

use std::fmt;

use crate::digest::Digest;

/// Default registry domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Longest repository path accepted.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A parsed, normalized reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a string is not a valid reference. The messages are those of `distribution/reference`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The string does not follow the grammar.
    #[error("invalid reference format")]
    Format,
    /// The repository part has uppercase letters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// A 64-hex string used as a name.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    Identifier(String),
    /// The repository path is longer than 255 characters.
    #[error("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")]
    NameTooLong,
    /// Nothing before the tag.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// The digest part is malformed.
    #[error("invalid digest format")]
    Digest,
}

fn is_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+ (?:(?:[._]|__|[-]+)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    let mut need_alnum = true;
    while i < b.len() {
        let x = b.get(i).copied().unwrap_or(0);
        if alnum(x) {
            need_alnum = false;
            i = i.saturating_add(1);
            continue;
        }
        if need_alnum {
            return false;
        }
        // a separator: '.', '_', '__', or one or more '-'
        match x {
            b'.' => i = i.saturating_add(1),
            b'_' => {
                i = i.saturating_add(1);
                if b.get(i) == Some(&b'_') {
                    i = i.saturating_add(1);
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i = i.saturating_add(1);
                }
            }
            _ => return false,
        }
        need_alnum = true;
    }
    !need_alnum
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        // [ipv6](:port)?
        let Some(end) = rest.find(']') else {
            return false;
        };
        let ip = rest.get(..end).unwrap_or("");
        if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        let after = rest.get(end.saturating_add(1)..).unwrap_or("");
        if after.is_empty() {
            return true;
        }
        match after.strip_prefix(':') {
            Some(p) => return !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()),
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
                && b.first().is_some_and(|x| x.is_ascii_alphanumeric())
                && b.last().is_some_and(|x| x.is_ascii_alphanumeric())
        })
}

fn valid_tag(t: &str) -> bool {
    // [\w][\w.-]{0,127}
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && b.first().is_some_and(|x| word(*x))
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

fn valid_digest(d: &str) -> bool {
    // [A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|c| {
        let b = c.as_bytes();
        b.first().is_some_and(|x| x.is_ascii_alphabetic())
            && b.iter().all(|x| x.is_ascii_alphanumeric())
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Reference {
    /// Parses a reference as `docker` would from a user or a `RepoTags` item
    /// (`ParseNormalizedNamed`).
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        if is_identifier(s) {
            return Err(ReferenceError::Identifier(s.to_string()));
        }
        let (mut domain, mut remainder) = match s.find('/') {
            Some(i) => {
                let first = s.get(..i).unwrap_or("");
                let is_domain = first.contains(['.', ':'])
                    || first == "localhost"
                    || first.to_lowercase() != first;
                if is_domain {
                    (
                        first.to_string(),
                        s.get(i.saturating_add(1)..).unwrap_or("").to_string(),
                    )
                } else {
                    (DEFAULT_DOMAIN.to_string(), s.to_string())
                }
            }
            None => (DEFAULT_DOMAIN.to_string(), s.to_string()),
        };
        if domain == LEGACY_DEFAULT_DOMAIN {
            domain = DEFAULT_DOMAIN.to_string();
        }
        if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
            remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
        }
        let remote = match remainder.find(':') {
            Some(i) => remainder.get(..i).unwrap_or(""),
            None => remainder.as_str(),
        };
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::Uppercase(remote.to_string()));
        }
        Self::parse_parts(domain, &remainder)
    }

    fn parse_parts(domain: String, remainder: &str) -> Result<Reference, ReferenceError> {
        if !valid_domain(&domain) {
            return Err(ReferenceError::Format);
        }
        let (named, digest) = match remainder.split_once('@') {
            Some((n, d)) => {
                if !valid_digest(d) {
                    return Err(ReferenceError::Digest);
                }
                (n, Some(d.to_string()))
            }
            None => (remainder, None),
        };
        let (path, tag) = match named.rfind(':') {
            Some(i) if !named.get(i..).unwrap_or("").contains('/') => (
                named.get(..i).unwrap_or(""),
                Some(named.get(i.saturating_add(1)..).unwrap_or("").to_string()),
            ),
            _ => (named, None),
        };
        if path.is_empty() {
            return Err(ReferenceError::NameEmpty);
        }
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(ReferenceError::Format);
            }
        }
        if !path.split('/').all(valid_path_component) {
            return Err(ReferenceError::Format);
        }
        if path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        Ok(Reference {
            domain,
            path: path.to_string(),
            tag,
            digest,
        })
    }

    /// The registry domain (`docker.io` for Docker Hub).
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The repository path (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    /// The digest, if any (as written; may use another algorithm than sha256).
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
    /// The digest as a validated sha256/sha512 [`Digest`], if it is one.
    pub fn parsed_digest(&self) -> Option<Digest> {
        self.digest.as_deref().and_then(|d| d.parse().ok())
    }
    /// `domain/path`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
    /// The name as docker shows it: `busybox`, `user/app`, `quay.io/x/y`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }
    /// The familiar form with tag and digest (`busybox:latest`).
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
    /// This reference with `latest` added when it has neither tag nor digest (`TagNameOnly`).
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".to_string());
        }
        self
    }
}

/// A glob pattern that does not follow the `path.Match` grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern {0:?}")]
#[non_exhaustive]
pub struct PatternError(pub String);

/// Whether `name` matches the shell pattern `pattern`, with the grammar and semantics of Go's
/// `path.Match`: `*` is any run of non-`/` characters, `?` one non-`/` character, `[...]` a
/// non-empty class of characters or `lo-hi` ranges (`[^...]` negated), `\` escapes the next
/// character; the whole name must match. A malformed pattern is an error even when the match
/// fails early, as in Go 1.16 and later.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, PatternError> {
    let bad = || PatternError(pattern.to_string());
    let pat: Vec<char> = pattern.chars().collect();
    let mut name: Vec<char> = name.chars().collect();
    let mut rest = pat.as_slice();
    'chunks: while !rest.is_empty() {
        let (star, chunk, after) = scan_chunk(rest);
        rest = after;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest of the name unless it holds a `/`.
            return Ok(!name.contains(&'/'));
        }
        match match_chunk(chunk, &name) {
            Err(()) => return Err(bad()),
            Ok(Some(left)) if left.is_empty() || !rest.is_empty() => {
                name = left;
                continue;
            }
            Ok(_) => {}
        }
        if star {
            // Try skipping 1, 2, ... characters of the name, never a `/`.
            let mut i = 0;
            while i < name.len() && name.get(i) != Some(&'/') {
                let tail = name.get(i.saturating_add(1)..).unwrap_or_default();
                match match_chunk(chunk, tail) {
                    Err(()) => return Err(bad()),
                    Ok(Some(left)) => {
                        if rest.is_empty() && !left.is_empty() {
                            i = i.saturating_add(1);
                            continue;
                        }
                        name = left;
                        continue 'chunks;
                    }
                    Ok(None) => {}
                }
                i = i.saturating_add(1);
            }
        }
        // No match: the rest of the pattern must still be well formed.
        while !rest.is_empty() {
            let (_, chunk, after) = scan_chunk(rest);
            rest = after;
            if match_chunk(chunk, &[]).is_err() {
                return Err(bad());
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off the leading stars and the following star-free chunk.
fn scan_chunk(pattern: &[char]) -> (bool, &[char], &[char]) {
    let mut p = pattern;
    let mut star = false;
    while let Some(('*', tail)) = p.split_first() {
        p = tail;
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while let Some(&c) = p.get(i) {
        match c {
            '\\' if i.saturating_add(1) < p.len() => i = i.saturating_add(1),
            '[' => in_range = true,
            ']' => in_range = false,
            '*' if !in_range => {
                return (
                    star,
                    p.get(..i).unwrap_or_default(),
                    p.get(i..).unwrap_or_default(),
                )
            }
            _ => {}
        }
        i = i.saturating_add(1);
    }
    (star, p, &[])
}

/// Matches a star-free chunk against the start of `s`: the rest of `s` on a match, `None` on a
/// mismatch, `Err` when the chunk is malformed (checked to its end even after a mismatch).
fn match_chunk(chunk: &[char], s: &[char]) -> Result<Option<Vec<char>>, ()> {
    let mut failed = false;
    let mut s = s;
    let mut c = chunk;
    while let Some((&first, tail)) = c.split_first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match first {
            '[' => {
                let r = if failed { None } else { s.first().copied() };
                if !failed {
                    s = s.get(1..).unwrap_or_default();
                }
                c = tail;
                let negated = c.first() == Some(&'^');
                if negated {
                    c = c.get(1..).unwrap_or_default();
                }
                let mut matched = false;
                let mut ranges = 0u32;
                loop {
                    if c.first() == Some(&']') && ranges > 0 {
                        c = c.get(1..).unwrap_or_default();
                        break;
                    }
                    let (lo, after) = class_char(c)?;
                    c = after;
                    let mut hi = lo;
                    if c.first() == Some(&'-') {
                        let (h, after) = class_char(c.get(1..).unwrap_or_default())?;
                        hi = h;
                        c = after;
                    }
                    if r.is_some_and(|r| lo <= r && r <= hi) {
                        matched = true;
                    }
                    ranges = ranges.saturating_add(1);
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    if s.first() == Some(&'/') {
                        failed = true;
                    }
                    s = s.get(1..).unwrap_or_default();
                }
                c = tail;
            }
            _ => {
                let (lit, after) = if first == '\\' {
                    match tail.split_first() {
                        Some((&l, after)) => (l, after),
                        None => return Err(()),
                    }
                } else {
                    (first, tail)
                };
                if !failed {
                    if s.first() != Some(&lit) {
                        failed = true;
                    }
                    s = s.get(1..).unwrap_or_default();
                }
                c = after;
            }
        }
    }
    Ok((!failed).then(|| s.to_vec()))
}

/// One possibly escaped character of a class; the class must go on after it.
fn class_char(c: &[char]) -> Result<(char, &[char]), ()> {
    let c = match c.first() {
        None | Some('-') | Some(']') => return Err(()),
        Some('\\') => c.get(1..).unwrap_or_default(),
        Some(_) => c,
    };
    let (&ch, after) = c.split_first().ok_or(())?;
    if after.is_empty() {
        return Err(());
    }
    Ok((ch, after))
}

impl Reference {
    /// `FamiliarMatch`: whether the glob `pattern` matches this reference's familiar string
    /// (`busybox:latest`) or, failing that, its familiar name (`busybox`). This is how the
    /// Engine API's `reference` image filter compares.
    pub fn familiar_match(&self, pattern: &str) -> Result<bool, PatternError> {
        if glob_match(pattern, &self.familiar_string())? {
            return Ok(true);
        }
        glob_match(pattern, &self.familiar_name())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        Reference::parse_normalized(s).unwrap().to_string()
    }

    #[test]
    fn a_hub_repository_named_like_a_domain_has_an_ambiguous_familiar_form() {
        // distribution/reference gives the same familiar string, which reads back as another
        // registry: only the full form identifies the image.
        let r = Reference::parse_normalized("docker.io/lex.docker.io/app:1").unwrap();
        assert_eq!(r.domain(), "docker.io");
        assert_eq!(r.path(), "lex.docker.io/app");
        assert_eq!(r.familiar_string(), "lex.docker.io/app:1");
        let back = Reference::parse_normalized(&r.familiar_string()).unwrap();
        assert_eq!(back.domain(), "lex.docker.io");
        assert_eq!(Reference::parse_normalized(&r.to_string()).unwrap(), r);
    }

    #[test]
    fn normalizes() {
        assert_eq!(n("busybox"), "docker.io/library/busybox");
        assert_eq!(n("busybox:latest"), "docker.io/library/busybox:latest");
        assert_eq!(
            n("index.docker.io/library/busybox:latest"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(n("docker.io/busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(n("user/app:v1"), "docker.io/user/app:v1");
        assert_eq!(n("localhost:5000/a/b:t"), "localhost:5000/a/b:t");
        assert_eq!(n("[::1]:5000/x:y"), "[::1]:5000/x:y");
        assert_eq!(n("Example.com/x:y"), "Example.com/x:y");
        let r = Reference::parse_normalized("docker.io/library/busybox:latest").unwrap();
        assert_eq!(r.familiar_string(), "busybox:latest");
        let r = Reference::parse_normalized("quay.io/a/b:c").unwrap();
        assert_eq!(r.familiar_string(), "quay.io/a/b:c");
        let r = Reference::parse_normalized("docker.io/library/a/b:c").unwrap();
        assert_eq!(r.familiar_string(), "library/a/b:c");
    }

    #[test]
    fn globs_like_path_match() {
        let m = |p: &str, n: &str| glob_match(p, n).unwrap();
        assert!(m("abc", "abc"));
        assert!(m("*", "abc"));
        assert!(m("*c", "abc"));
        assert!(!m("a*", "ab/c"));
        assert!(m("a*/b", "abc/b"));
        assert!(!m("a*/b", "a/c/b"));
        assert!(m("a*b*c*d*e*/f", "axbxcxdxe/f"));
        assert!(m("a*b*c*d*e*/f", "axbxcxdxexxx/f"));
        assert!(!m("a*b*c*d*e*/f", "axbxcxdxe/xxx/f"));
        assert!(!m("a*b*c*d*e*/f", "axbxcxdxexxx/fff"));
        assert!(m("a*b?c*x", "abxbbxdbxebxczzx"));
        assert!(!m("a*b?c*x", "abxbbxdbxebxczzy"));
        assert!(m("ab[c]", "abc"));
        assert!(m("ab[b-d]", "abc"));
        assert!(!m("ab[e-g]", "abc"));
        assert!(!m("ab[^c]", "abc"));
        assert!(m("ab[^e-g]", "abc"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "ab"));
        assert!(m("a?b", "a☺b"));
        assert!(m("a[^a]b", "a☺b"));
        assert!(m("[\\]a]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("*x", "xxx"));
        assert!(!m("a?b", "a/b"));
        let bad = |p: &str, n: &str| glob_match(p, n).is_err();
        assert!(bad("[]a]", "]"));
        assert!(bad("[-]", "-"));
        assert!(bad("[x-]", "x"));
        assert!(bad("\\", "a"));
        assert!(bad("[a-b-c]", "a"));
        assert!(bad("[", "a"));
        assert!(bad("[^", "a"));
        assert!(bad("*x[", "xxx"));
        assert!(bad("a[", "x"), "malformed even after a mismatch");
    }

    #[test]
    fn familiar_match() {
        let r = Reference::parse_normalized("docker.io/library/busybox:1.36").unwrap();
        assert!(r.familiar_match("busybox").unwrap());
        assert!(r.familiar_match("busybox:1.*").unwrap());
        assert!(r.familiar_match("busy*").unwrap());
        assert!(!r.familiar_match("busybox:latest").unwrap());
        assert!(!r.familiar_match("library/busybox").unwrap());
        let q = Reference::parse_normalized("quay.io/a/b:c").unwrap();
        assert!(q.familiar_match("quay.io/a/*").unwrap());
        assert!(!q.familiar_match("*").unwrap(), "* stops at /");
        assert!(q.familiar_match("*/*/*").unwrap());
        assert!(r.familiar_match("[").is_err());
    }

    #[test]
    fn rejects() {
        use ReferenceError::*;
        let e = |s: &str| Reference::parse_normalized(s).unwrap_err();
        assert!(matches!(e("UPPERCASE-IS-INVALID"), Uppercase(_)));
        assert!(matches!(
            e("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            Identifier(_)
        ));
        assert_eq!(e("a:b:c"), Format);
        assert_eq!(e("busybox:"), Format);
        assert_eq!(e(&format!("busybox:{}", "a".repeat(129))), Format);
        assert!(Reference::parse_normalized(&format!("busybox:{}", "a".repeat(128))).is_ok());
        assert_eq!(e("busybox@sha256:abc"), Digest);
        assert_eq!(e(&format!("a/{}", "b".repeat(254))), NameTooLong);
        assert!(Reference::parse_normalized(&format!("a/{}", "b".repeat(253))).is_ok());
        assert_eq!(e("a__-b"), Format);
        assert_eq!(e(":tag"), Format);
        let r = Reference::parse_normalized(
            "busybox:1@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
        .unwrap();
        assert_eq!(r.tag(), Some("1"));
        assert!(r.parsed_digest().is_some());
    }
}
