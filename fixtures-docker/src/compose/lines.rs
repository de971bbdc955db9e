//! Text helpers for compose files: variables interpolated as compose does, the line a key is
//! on (for error messages), and a command string split into words (quotes and backslashes).

/// Compose's interpolation, from `vars`: `${VAR}`, `$VAR`, `${VAR:-default}` (unset or
/// empty), `${VAR-default}` (unset), `${VAR:?message}` / `${VAR?message}` (an error), `$$`
/// (a `$`). An unset variable without a default is empty, as compose makes it.
pub(crate) fn interpolate(
    text: &str,
    vars: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner
                .find('}')
                .ok_or_else(|| format!("`${{` without `}}` in `{}`", first_line(rest)))?;
            out.push_str(&expand(&inner[..end], &vars)?);
            rest = &inner[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(&vars(&after[..len]).unwrap_or_default());
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

fn expand(expr: &str, vars: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let name_len = expr
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_len);
    let value = vars(name);
    let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    Ok(match op {
        "" => value.unwrap_or_default(),
        _ if op.starts_with(":-") => {
            if set_nonempty {
                value.unwrap_or_default()
            } else {
                op[2..].to_owned()
            }
        }
        _ if op.starts_with('-') => value.unwrap_or_else(|| op[1..].to_owned()),
        _ if op.starts_with(":?") && !set_nonempty => {
            return Err(format!("${{{name}}}: {}", &op[2..]));
        }
        _ if op.starts_with('?') && value.is_none() => {
            return Err(format!("${{{name}}}: {}", &op[1..]));
        }
        _ if op.starts_with(":?") || op.starts_with('?') => value.unwrap_or_default(),
        _ => return Err(format!("`${{{expr}}}`: unsupported interpolation")),
    })
}

/// The 1-based line of `key` inside the block of `parents` (e.g. `["services", "db"]`), when
/// the file is laid out in YAML's block style.
pub(crate) fn line_of(text: &str, parents: &[&str], key: &str) -> Option<usize> {
    let mut found = 0;
    let mut parent_indent: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        if let Some(p) = parent_indent
            && indent <= p
        {
            // Out of the parent's block without finding the key.
            return None;
        }
        let want = parents.get(found).copied().unwrap_or(key);
        let is_key = [
            format!("{want}:"),
            format!("\"{want}\":"),
            format!("'{want}':"),
        ]
        .iter()
        .any(|k| body.starts_with(k.as_str()));
        if is_key {
            if found == parents.len() {
                return Some(n + 1);
            }
            found += 1;
            parent_indent = Some(indent);
        }
    }
    None
}

/// `command` written as one string, split into words: spaces separate, quotes group, a
/// backslash takes the next character as it is.
pub(crate) fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "services:\n  db:\n    image: postgres\n    privileged: true\n  api:\n    \
                        image: svc\n";

    #[test]
    fn variables_are_interpolated_as_compose_does() {
        let vars = |k: &str| match k {
            "IMAGE" => Some("pg:15".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let f = |t: &str| interpolate(t, vars);
        assert_eq!(f("image: ${IMAGE}").unwrap(), "image: pg:15");
        assert_eq!(f("$IMAGE/x").unwrap(), "pg:15/x");
        assert_eq!(f("${NOPE:-postgres:15}").unwrap(), "postgres:15");
        assert_eq!(f("${EMPTY:-d}|${EMPTY-d}").unwrap(), "d|");
        assert_eq!(f("cost $$5 ${NOPE}.").unwrap(), "cost $5 .");
        assert!(f("${NOPE:?set NOPE}").unwrap_err().contains("set NOPE"));
        assert!(f("${IMAGE").is_err());
    }

    #[test]
    fn keys_are_found_in_their_block() {
        assert_eq!(line_of(FILE, &["services", "db"], "privileged"), Some(4));
        assert_eq!(line_of(FILE, &["services", "api"], "image"), Some(6));
        assert_eq!(line_of(FILE, &["services", "api"], "privileged"), None);
        assert_eq!(line_of(FILE, &[], "services"), Some(1));
    }

    #[test]
    fn commands_split_as_compose_does() {
        assert_eq!(
            split_words(r#"sh -c "echo 'a b'" x\ y"#),
            vec!["sh", "-c", "echo 'a b'", "x y"]
        );
        assert_eq!(split_words("  "), Vec::<String>::new());
        assert_eq!(split_words("a ''"), vec!["a", ""]);
    }
}
