//! `#[needs_services]`: the skip switch's mark. With `FIXTURES_SKIP` on when the test crate is
//! compiled, every marked test gets `#[ignore = "…"]`, so that libtest and nextest report it as
//! ignored (skipped) with the reason, and nothing of it runs.
//!
//! The switch is read here, at expansion. The expansion also reads both variables with
//! `option_env!`, so that rustc records them among the test crate's inputs and cargo compiles
//! it again when either changes (a proc macro's own reads are not tracked).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Attribute, Item, ItemFn};

/// The switch, and the variable it must not be set with.
const SKIP: &str = "FIXTURES_SKIP";
const REQUIRE: &str = "FIXTURES_REQUIRE_DOCKER";

/// The attribute's own name, to leave a test that carries it already to its own expansion.
const NAME: &str = "needs_services";

/// The reason libtest prints beside the ignored test.
const REASON: &str =
    "FIXTURES_SKIP is set: this test needs Docker or Postgres (unset FIXTURES_SKIP to run it)";

/// The same reading of a boolean-ish variable as fixtures-core's `flag`.
fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// The expansion: `item` (a test function, or an inline module of tests) with its tests
/// ignored when the switch is on. With both the switch and `FIXTURES_REQUIRE_DOCKER` on, the
/// tests are left to run: their first service then fails with an error naming both variables.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(
            attr,
            "#[needs_services] takes no arguments",
        ));
    }
    let mut item: Item = syn::parse2(item)?;
    let switched = flag(SKIP) && !flag(REQUIRE);
    match &mut item {
        Item::Fn(f) if switched => ignore(&mut f.attrs),
        Item::Mod(m) => match &mut m.content {
            Some((_, items)) if switched => ignore_tests_in(items),
            Some(_) => {}
            None => {
                return Err(syn::Error::new_spanned(
                    &m.ident,
                    "#[needs_services] on a module needs its tests inline (`mod name { … }`); \
                     on a module in a file of its own, mark the tests in that file",
                ));
            }
        },
        Item::Fn(_) => {}
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "#[needs_services] marks a test function or an inline module of tests",
            ));
        }
    }
    Ok(quote! {
        #item
        const _: () = {
            let _ = ::core::option_env!("FIXTURES_SKIP");
            let _ = ::core::option_env!("FIXTURES_REQUIRE_DOCKER");
        };
    })
}

/// Adds the ignore, after the test's other attributes (`#[rstest]` and `#[tokio::test]` pass it
/// on to the tests they generate).
fn ignore(attrs: &mut Vec<Attribute>) {
    attrs.push(syn::parse_quote!(#[ignore = #REASON]));
}

/// Every test function of a module, nested inline modules included. A test is a function with
/// an attribute whose last segment is `test` or `rstest` (`#[test]`, `#[tokio::test]`,
/// `#[rstest]`, …). Tests made by a macro inside the module are not seen: mark them inside the
/// macro.
fn ignore_tests_in(items: &mut [Item]) {
    for item in items {
        match item {
            Item::Fn(f) if is_test(f) && !marked(&f.attrs) => ignore(&mut f.attrs),
            Item::Mod(m) if !marked(&m.attrs) => {
                if let Some((_, inner)) = &mut m.content {
                    ignore_tests_in(inner);
                }
            }
            _ => {}
        }
    }
}

fn last_segment_is(attr: &Attribute, names: &[&str]) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| names.iter().any(|n| s.ident == n))
}

fn is_test(f: &ItemFn) -> bool {
    f.attrs
        .iter()
        .any(|a| last_segment_is(a, &["test", "rstest"]))
}

/// A test or module marked on its own, inside a marked module: its own mark ignores it.
fn marked(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| last_segment_is(a, &[NAME]))
}
