//! What the CLI prints for people: the docker CLI's rendering of sizes (`go-units`), durations, short IDs,
//! ellipsis and the aligned tables of `docker images` and `docker history` (docker/cli's
//! `formatter` package: a tab writer with minimum width 10 and padding 3).

/// `units.HumanSizeWithPrecision(size, 3)`: decimal units (`B`, `kB`, `MB`, ...) and three
/// significant digits in Go's `%g` style (`4.26MB`, `12.3kB`, `1e+03kB`).
pub fn size(bytes: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    // Go divides a float64 step by step; doing the same keeps the rounding identical.
    #[allow(clippy::cast_precision_loss)]
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len().saturating_sub(1) {
        v /= 1000.0;
        unit = unit.saturating_add(1);
    }
    format!("{}{}", go_g3(v), UNITS.get(unit).copied().unwrap_or("B"))
}

/// Go's `fmt.Sprintf("%.3g", v)`: the value rounded to 3 significant digits (half to even on
/// the exact binary value, which is also how Rust rounds), exponent form when the exponent is
/// below -4 or at least 3, trailing zeros removed.
fn go_g3(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let sci = format!("{v:.2e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..3).contains(&exp) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let rest = rest.trim_end_matches('0');
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.unsigned_abs());
    }
    let s = if exp >= 0 {
        let int_len = usize::try_from(exp).unwrap_or(0).saturating_add(1);
        let (int, frac) = digits.split_at(int_len.min(digits.len()));
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            int.to_string()
        } else {
            format!("{int}.{frac}")
        }
    } else {
        let zeros =
            "0".repeat(usize::try_from(exp.saturating_neg().saturating_sub(1)).unwrap_or(0));
        format!("0.{zeros}{}", digits.trim_end_matches('0'))
    };
    format!("{sign}{s}")
}

/// `units.HumanDuration`: "Less than a second", "About a minute", "3 hours", "2 weeks", ...
/// `nanos` is the elapsed time in nanoseconds, as Go's `time.Duration`.
pub fn duration(nanos: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let d = nanos as f64;
    #[allow(clippy::cast_possible_truncation)]
    let whole = |x: f64| x as i64;
    let seconds = whole(d / 1e9);
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = whole(d / 6e10);
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = whole(d / 3.6e12 + 0.5);
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", whole(d / 3.6e12) / 24 / 365)
}

/// Go's `time.Duration` from `then` to `now` (Unix seconds), saturating at its range as
/// `time.Time.Sub` does.
pub fn since(now_unix: i64, then_unix: i64) -> i64 {
    i128::from(now_unix)
        .saturating_sub(i128::from(then_unix))
        .saturating_mul(1_000_000_000)
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX))
        .try_into()
        .unwrap_or(i64::MAX)
}

/// `stringid.TruncateID`: drops an `algorithm:` prefix and keeps 12 characters.
pub fn truncate_id(id: &str) -> &str {
    let id = id.split_once(':').map_or(id, |(_, hex)| hex);
    match id.char_indices().nth(12) {
        Some((i, _)) => id.get(..i).unwrap_or(id),
        None => id,
    }
}

/// `formatter.Ellipsis` for text of one column per character: at most `max` characters, the
/// last replaced by `…` when the text is cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 1 {
        return s.chars().take(1).collect();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Renders rows as docker/cli's tab writer does (minimum cell width 10, padding 3, spaces):
/// every column but the last is padded to its widest cell plus 3; the last is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths = vec![10usize; cols];
    // Cells come from the archive (tags, `created_by`): never let them drive the terminal.
    let all = std::iter::once(header.iter().map(|h| h.to_string()).collect::<Vec<_>>())
        .chain(rows.iter().map(|r| r.iter().map(|c| clean(c)).collect()))
        .collect::<Vec<_>>();
    for row in &all {
        for (c, cell) in row.iter().enumerate().take(cols.saturating_sub(1)) {
            if let Some(w) = widths.get_mut(c) {
                *w = (*w).max(cell.chars().count().saturating_add(3));
            }
        }
    }
    let mut out = String::new();
    for row in &all {
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if c.saturating_add(1) < row.len() {
                let w = widths.get(c).copied().unwrap_or(10);
                let pad = w.saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// `docker image ls`'s default table: one row per repository and tag (and digest with
/// `digests`), `<none>` for untagged images. `now` is the current Unix time.
pub fn images_table(
    images: &[imgtar::engine::ImageSummary],
    digests: bool,
    no_trunc: bool,
    now: i64,
) -> String {
    let mut header = vec!["REPOSITORY", "TAG"];
    if digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let mut rows = Vec::new();
    for img in images {
        let id = if no_trunc {
            img.id.clone()
        } else {
            truncate_id(&img.id).to_string()
        };
        // The docker CLI shows `N/A` for Go's zero time (`Created` -62135596800, an image
        // whose config has no or a zero `created`), and relative times for everything else,
        // 1970 included (seen with docker 20.10, `engine_daemon`).
        let created = if img.created == GO_ZERO_TIME {
            "N/A".to_string()
        } else {
            format!("{} ago", duration(since(now, img.created)))
        };
        let size = size(img.size);
        for (repo, tag, digest) in image_rows(img, digests) {
            let mut row = vec![repo, tag];
            if digests {
                row.push(digest);
            }
            row.extend([id.clone(), created.clone(), size.clone()]);
            rows.push(row);
        }
    }
    table(&header, &rows)
}

/// The (repository, tag, digest) rows of one image, grouped by repository in the order the
/// names come (docker/cli's `imageFormatTaggedAndDigest`).
fn image_rows(img: &imgtar::engine::ImageSummary, digests: bool) -> Vec<(String, String, String)> {
    use imgtar::reference::Reference;
    let none = || "<none>".to_string();
    // API 1.42 and older list an untagged image as `<none>:<none>` / `<none>@<none>`.
    let real = |l: &Option<Vec<String>>| -> Vec<String> {
        l.iter()
            .flatten()
            .filter(|n| !n.starts_with("<none>"))
            .cloned()
            .collect()
    };
    let (repo_tags, repo_digests) = (real(&img.repo_tags), real(&img.repo_digests));
    if repo_tags.is_empty() && repo_digests.is_empty() {
        return vec![(none(), none(), none())];
    }
    let mut tags: Vec<(String, Vec<String>)> = Vec::new();
    let mut by_digest: Vec<(String, Vec<String>)> = Vec::new();
    let group = |list: &mut Vec<(String, Vec<String>)>, name: String, v: String| match list
        .iter_mut()
        .find(|(n, _)| *n == name)
    {
        Some((_, vs)) => vs.push(v),
        None => list.push((name, vec![v])),
    };
    for t in &repo_tags {
        if let Ok(r) = Reference::parse_normalized(t) {
            if let (Some(tag), None) = (r.tag(), r.digest()) {
                group(&mut tags, r.familiar_name(), tag.to_string());
            }
        }
    }
    for d in &repo_digests {
        if let Ok(r) = Reference::parse_normalized(d) {
            if let Some(dg) = r.digest() {
                group(&mut by_digest, r.familiar_name(), dg.to_string());
            }
        }
    }
    let mut rows = Vec::new();
    for (repo, ts) in &tags {
        let ds = by_digest
            .iter()
            .position(|(n, _)| n == repo)
            .map(|i| by_digest.remove(i).1)
            .filter(|_| digests)
            .unwrap_or_default();
        for t in ts {
            if ds.is_empty() {
                rows.push((repo.clone(), t.clone(), none()));
            }
            for d in &ds {
                rows.push((repo.clone(), t.clone(), d.clone()));
            }
        }
    }
    for (repo, ds) in by_digest {
        if digests {
            for d in ds {
                rows.push((repo.clone(), none(), d));
            }
        } else {
            rows.push((repo, none(), String::new()));
        }
    }
    rows
}

/// Go's zero `time.Time` in Unix seconds.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// `docker history`'s default table. With `old_times_na` (docker CLI 23.0 and later, API 1.42+:
/// docker/cli 0253634f59 "hide old CREATED times") creation times up to 2000-01-01 show as
/// `N/A`; docker 20.10's CLI shows every time relative.
pub fn history_table(
    items: &[imgtar::engine::HistoryItem],
    no_trunc: bool,
    now: i64,
    old_times_na: bool,
) -> String {
    const EPOCH_2000: i64 = 946_684_800;
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|h| {
            let created_by = h.created_by.replace('\t', " ");
            vec![
                if no_trunc {
                    h.id.clone()
                } else {
                    truncate_id(&h.id).to_string()
                },
                if old_times_na && h.created <= EPOCH_2000 {
                    "N/A".to_string()
                } else {
                    format!("{} ago", duration(since(now, h.created)))
                },
                if no_trunc {
                    created_by
                } else {
                    ellipsis(&created_by, 45)
                },
                size(h.size),
                h.comment.clone(),
            ]
        })
        .collect();
    table(
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        let cases = [
            (0, "0B"),
            (7, "7B"),
            (999, "999B"),
            (1000, "1kB"),
            (1024, "1.02kB"),
            (1125, "1.12kB"),
            (1135, "1.14kB"),
            (12_250, "12.2kB"),
            (999_499, "999kB"),
            (999_500, "1e+03kB"),
            (4_261_000, "4.26MB"),
            (1_000_000_000, "1GB"),
            (5_882_045, "5.88MB"),
        ];
        for (n, want) in cases {
            assert_eq!(size(n), want, "{n}");
        }
    }

    #[test]
    fn durations_like_go_units() {
        let s = 1_000_000_000i64;
        assert_eq!(duration(0), "Less than a second");
        assert_eq!(duration(s), "1 second");
        assert_eq!(duration(59 * s), "59 seconds");
        assert_eq!(duration(60 * s), "About a minute");
        assert_eq!(duration(119 * s), "About a minute");
        assert_eq!(duration(120 * s), "2 minutes");
        assert_eq!(duration(3599 * s), "59 minutes");
        assert_eq!(duration(3600 * s), "About an hour");
        assert_eq!(duration(5399 * s), "About an hour");
        assert_eq!(duration(5400 * s), "2 hours");
        assert_eq!(duration(47 * 3600 * s), "47 hours");
        assert_eq!(duration(48 * 3600 * s), "2 days");
        assert_eq!(duration(14 * 86_400 * s), "2 weeks");
        assert_eq!(duration(60 * 86_400 * s), "2 months");
        assert_eq!(duration(730 * 86_400 * s), "2 years");
        assert_eq!(since(10, 0), 10 * s);
        assert_eq!(since(i64::MAX, i64::MIN), i64::MAX);
    }

    #[test]
    fn ids_ellipsis_and_tables() {
        assert_eq!(truncate_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(truncate_id("<missing>"), "<missing>");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
        let t = table(
            &["A", "LONGER HEADER", "LAST"],
            &[vec!["x".into(), "y".into(), "".into()]],
        );
        assert_eq!(
            t,
            "A         LONGER HEADER   LAST\nx         y               \n"
        );
    }

    /// An image ID of 64 hex digits made of one repeated digit.
    fn id(d: char) -> String {
        format!("sha256:{}", d.to_string().repeat(64))
    }

    #[test]
    fn history_table_like_docker() {
        let items: Vec<imgtar::engine::HistoryItem> = serde_json::from_value(serde_json::json!([
            {"Id": id('a'), "Created": 1_546_473_600, "CreatedBy": "layer 2", "Size": 3,
             "Comment": "", "Tags": ["app:1", "app:2", "example.com/app:1"]},
            {"Id": id('b'), "Created": 1_546_387_200, "CreatedBy": "layer 1", "Size": 10,
             "Comment": "", "Tags": null},
            {"Id": "<missing>", "Created": 0, "CreatedBy": "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in /",
             "Size": 7, "Comment": "Imported from -", "Tags": null},
        ]))
        .unwrap();
        let t = history_table(&items, false, 1_700_000_000, true);
        assert_eq!(
            t,
            "IMAGE          CREATED       CREATED BY                                      SIZE      COMMENT\n\
             aaaaaaaaaaaa   4 years ago   layer 2                                         3B        \n\
             bbbbbbbbbbbb   4 years ago   layer 1                                         10B       \n\
             <missing>      N/A           /bin/sh -c #(nop) ADD file:0123456789abcdef0…   7B        Imported from -\n"
        );
        let full = history_table(&items[2..], true, 1_700_000_000, true);
        let old = history_table(&items[2..], true, 1_700_000_000, false);
        assert!(old.contains("<missing>   53 years ago   /bin/sh"), "{old}");
        assert!(
            full.contains("<missing>   N/A       /bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in /   7B        Imported from -"),
            "{full}"
        );
    }

    #[test]
    fn images_table_like_docker() {
        let summary = |n: char, created: i64, size: i64, tags: &[&str]| {
            serde_json::from_value::<imgtar::engine::ImageSummary>(serde_json::json!({
                "Containers": -1, "Created": created, "Id": id(n), "Labels": null,
                "ParentId": "", "RepoDigests": [], "RepoTags": tags, "SharedSize": -1,
                "Size": size,
            }))
            .unwrap()
        };
        let list = [
            summary('1', 1_640_995_200, 1, &["tool:latest"]),
            summary(
                '2',
                1_609_459_200,
                20,
                &["app:1", "app:2", "example.com/app:1"],
            ),
            summary('3', 1_577_836_800, 7, &["base:1"]),
            summary('4', 1_546_300_800, 1, &[]),
        ];
        let t = images_table(&list, false, false, 1_700_000_000);
        assert_eq!(
            t,
            "REPOSITORY        TAG       IMAGE ID       CREATED         SIZE\n\
             tool              latest    111111111111   22 months ago   1B\n\
             app               1         222222222222   2 years ago     20B\n\
             app               2         222222222222   2 years ago     20B\n\
             example.com/app   1         222222222222   2 years ago     20B\n\
             base              1         333333333333   3 years ago     7B\n\
             <none>            <none>    444444444444   4 years ago     1B\n"
        );
        let d = images_table(&list[..1], true, true, 1_700_000_000);
        assert!(
            d.starts_with("REPOSITORY   TAG       DIGEST    IMAGE ID"),
            "{d}"
        );
        assert!(
            d.contains(&format!("tool         latest    <none>    {}", id('1'))),
            "{d}"
        );
    }
}

/// Writes JSON indented by four spaces (as the docker CLI does) and a newline: the one JSON
/// style of every command.
pub fn write_json<T: serde::Serialize>(
    out: &mut impl std::io::Write,
    value: &T,
) -> std::io::Result<()> {
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, fmt);
    value.serialize(&mut ser).map_err(json_io)?;
    writeln!(out)
}

/// Writes one JSON value on one line (JSON Lines).
pub fn write_json_line<T: serde::Serialize>(
    out: &mut impl std::io::Write,
    value: &T,
) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(json_io)?;
    writeln!(out)
}

/// serde_json's error as the I/O error it carries (a closed pipe must stay recognisable).
fn json_io(e: serde_json::Error) -> std::io::Error {
    match e.io_error_kind() {
        Some(kind) => std::io::Error::new(kind, e),
        None => std::io::Error::other(e),
    }
}

/// Text for a terminal: control characters (C0, DEL, C1) escaped as `\xNN` / `\u{NN}`.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            let n = u32::from(c);
            if n < 0x80 {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `drwxr-xr-x`-style type and permission letters, setuid/setgid/sticky included.
pub fn mode_string(letter: char, m: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(letter);
    for (i, shift) in [6u32, 3, 0].into_iter().enumerate() {
        let bits = (m >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let special = match i {
            0 => m & 0o4000 != 0,
            1 => m & 0o2000 != 0,
            _ => m & 0o1000 != 0,
        };
        let exec = bits & 1 != 0;
        let (set, unset) = if i == 2 { ('t', 'T') } else { ('s', 'S') };
        s.push(match (special, exec) {
            (true, true) => set,
            (true, false) => unset,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// Writes a path as the layer commands show it (leading `/`, control characters escaped).
pub fn write_path(
    out: &mut impl std::io::Write,
    path: &imgtar::layer::EntryPath,
) -> std::io::Result<()> {
    out.write_all(&path.display_bytes())
}

#[cfg(test)]
mod render_tests {
    use super::*;

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string('d', 0o755), "drwxr-xr-x");
        assert_eq!(mode_string('-', 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string('-', 0o2644), "-rw-r-Sr--");
        assert_eq!(mode_string('d', 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string('p', 0o1000), "p--------T");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("a\u{1b}[31mb\u{9b}c"), "a\\x1b[31mb\\u{9b}c");
        assert_eq!(clean("plain"), "plain");
    }
}

/// A write that fails only because the reader of our output went away (`| head`) is no
/// failure: the command ends quietly, with the status it has earned.
pub fn quiet(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
