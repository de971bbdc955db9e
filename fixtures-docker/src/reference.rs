//! Image references: `name:tag` split into its parts (`ContainerSpec::image_ref` joins them).

/// Splits `name:tag` (a port in the registry part is not a tag; a digest stays in the name).
pub(crate) fn split_reference(reference: &str) -> (String, String) {
    if reference.contains('@') {
        return (reference.to_owned(), String::new());
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (reference[..at].to_owned(), reference[at + 1..].to_owned())
        }
        None => (reference.to_owned(), "latest".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_name_and_tag() {
        let s = |r: &str| split_reference(r);
        assert_eq!(s("postgres:15"), ("postgres".into(), "15".into()));
        assert_eq!(s("postgres"), ("postgres".into(), "latest".into()));
        assert_eq!(
            s("localhost:5000/a/b:2"),
            ("localhost:5000/a/b".into(), "2".into())
        );
        assert_eq!(
            s("localhost:5000/a/b"),
            ("localhost:5000/a/b".into(), "latest".into())
        );
        assert_eq!(s("a@sha256:00"), ("a@sha256:00".into(), String::new()));
    }
}
