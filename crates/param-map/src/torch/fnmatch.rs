//! Python's `fnmatch` as RETURNN uses it for `preload_from_files` entries with `filename: None`
//! and `pattern` (`re.compile(fnmatch.translate(pattern)).match(name)`), and the `prefix`
//! variant (`re.compile(re.escape(prefix) + ".*").fullmatch(name)`).
//!
//! Why not the `regex` crate on `fnmatch.translate`'s output: that output uses atomic groups
//! (`(?>.*?x)`), which `regex` does not have. The pattern is parsed here the way
//! Python 3.11's `translate` parses it (same bracket rules, same handling of `-` ranges and of
//! empty ranges) and matched with a plain wildcard matcher: every piece between two `*` has a
//! fixed length, so taking its leftmost occurrence (what the atomic group does) is also what a
//! backtracking matcher finds, and both answer the same.

/// One element of a parsed pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// `*`: any run of characters (newlines included: `translate` wraps in `(?s:...)`).
    Star,
    /// `?`: any one character.
    Any,
    /// A literal character.
    Lit(char),
    /// `[...]`: one character in (or, negated, not in) the set.
    Set {
        negated: bool,
        singles: Vec<char>,
        ranges: Vec<(char, char)>,
    },
    /// `[]` that can never match (an empty set after removing empty ranges).
    Never,
}

/// A compiled `fnmatch` pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    toks: Vec<Tok>,
}

impl Pattern {
    /// Parses `pat` as `fnmatch.translate` does (Python 3.11).
    pub fn new(pat: &str) -> Pattern {
        let p: Vec<char> = pat.chars().collect();
        let n = p.len();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < n {
            let c = p[i];
            i += 1;
            match c {
                '*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                }
                '?' => toks.push(Tok::Any),
                '[' => {
                    let mut j = i;
                    if j < n && p[j] == '!' {
                        j += 1;
                    }
                    if j < n && p[j] == ']' {
                        j += 1;
                    }
                    while j < n && p[j] != ']' {
                        j += 1;
                    }
                    if j >= n {
                        toks.push(Tok::Lit('['));
                        continue;
                    }
                    toks.push(parse_set(&p, i, j));
                    i = j + 1;
                }
                c => toks.push(Tok::Lit(c)),
            }
        }
        Pattern { toks }
    }

    /// Whether the whole of `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let s: Vec<char> = name.chars().collect();
        // Classic wildcard matching with one backtrack point (the last `*`).
        let (mut ti, mut si) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            if ti < self.toks.len() && self.toks[ti] != Tok::Star && one(&self.toks[ti], s[si]) {
                ti += 1;
                si += 1;
            } else if ti < self.toks.len() && self.toks[ti] == Tok::Star {
                star = Some((ti, si));
                ti += 1;
            } else if let Some((st, ss)) = star {
                ti = st + 1;
                si = ss + 1;
                star = Some((st, ss + 1));
            } else {
                return false;
            }
        }
        while ti < self.toks.len() && self.toks[ti] == Tok::Star {
            ti += 1;
        }
        ti == self.toks.len()
    }
}

fn one(t: &Tok, c: char) -> bool {
    match t {
        Tok::Star => true,
        Tok::Any => true,
        Tok::Lit(l) => *l == c,
        Tok::Never => false,
        Tok::Set {
            negated,
            singles,
            ranges,
        } => {
            let inside = singles.contains(&c) || ranges.iter().any(|&(a, b)| a <= c && c <= b);
            inside != *negated
        }
    }
}

/// The bracket expression `p[i..j]` (between `[` and `]`), as `translate` builds its regex set.
fn parse_set(p: &[char], i0: usize, j: usize) -> Tok {
    let mut i = i0;
    let stuff: Vec<char> = p[i..j].to_vec();
    // chunks between the range hyphens (a hyphen right after `[` or `[!` is literal)
    let mut chunks: Vec<Vec<char>> = Vec::new();
    if !stuff.contains(&'-') {
        chunks.push(stuff.clone());
    } else {
        let mut k = if p[i] == '!' { i + 2 } else { i + 1 };
        loop {
            let found = (k..j).find(|&x| p[x] == '-');
            match found {
                None => break,
                Some(h) => {
                    chunks.push(p[i..h].to_vec());
                    i = h + 1;
                    k = h + 3;
                }
            }
        }
        let chunk = p[i..j].to_vec();
        if !chunk.is_empty() {
            chunks.push(chunk);
        } else if let Some(last) = chunks.last_mut() {
            last.push('-');
        }
        // remove empty ranges (their two end points go with them)
        let mut k = chunks.len();
        while k > 1 {
            k -= 1;
            let prev_last = chunks[k - 1].last().copied();
            let next_first = chunks[k].first().copied();
            if let (Some(a), Some(b)) = (prev_last, next_first) {
                if a > b {
                    let mut merged = chunks[k - 1][..chunks[k - 1].len() - 1].to_vec();
                    merged.extend_from_slice(&chunks[k][1..]);
                    chunks[k - 1] = merged;
                    chunks.remove(k);
                }
            }
        }
    }
    // The regex set `translate` emits: the chunks joined by range hyphens; a leading `!`
    // negates. Its members: every chunk character, plus each range from the last character of
    // one chunk to the first of the next.
    let flat: Vec<char> = chunks.iter().flatten().copied().collect();
    if flat.is_empty() {
        return Tok::Never;
    }
    if flat == ['!'] {
        return Tok::Any;
    }
    let negated = flat[0] == '!';
    let mut singles = Vec::new();
    let mut ranges = Vec::new();
    for (ci, ch) in chunks.iter().enumerate() {
        for (pos, &c) in ch.iter().enumerate() {
            if negated && ci == 0 && pos == 0 {
                continue;
            }
            singles.push(c);
        }
        if ci + 1 < chunks.len() {
            if let (Some(&a), Some(&b)) = (ch.last(), chunks[ci + 1].first()) {
                // the negation mark is not a range end point
                if !(negated && ci == 0 && ch.len() == 1) {
                    ranges.push((a, b));
                } else {
                    singles.push('-');
                    singles.push(b);
                }
            }
        }
    }
    Tok::Set {
        negated,
        singles,
        ranges,
    }
}

/// `re.compile(re.escape(prefix) + ".*").fullmatch(name)`: `name` starts with `prefix` and the
/// rest has no newline (`.` does not match `\n` without DOTALL).
pub fn prefix_fullmatch(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| !rest.contains('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "a\nb", true),
            ("a*", "abc", true),
            ("a*", "ba", false),
            ("*.weight", "enc.lin.weight", true),
            ("*.weight", "enc.lin.weightx", false),
            ("enc.*.bias", "enc.a.b.bias", true),
            ("?x", "ax", true),
            ("?x", "x", false),
            ("[ab]x", "bx", true),
            ("[!ab]x", "bx", false),
            ("[!ab]x", "cx", true),
            ("[a-c]", "b", true),
            ("[a-c]", "d", false),
            ("[]]", "]", true),
            ("[!]]", "a", true),
            ("[", "[", true),
            ("[abc", "[abc", true),
            ("[c-a]", "b", false),
            ("[c-a]", "c", false),
            ("[!c-a]", "q", true),
            ("[a-]", "-", true),
            ("[-a]", "-", true),
            ("[a--z]", "z", true),
            ("[a--z]", "a", false),
            ("[a-c-e]", "-", true),
            ("[a-c-e]", "d", false),
            ("[a-c-e]", "e", true),
            ("[!-a]", "-", false),
            ("[!-a]", "b", true),
            ("a**b", "ab", true),
            ("*a*a*", "aa", true),
            ("*a*a*", "ba", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(Pattern::new(p).matches(s), *want, "{p:?} {s:?}");
        }
    }
}
