//! The `#[fixture]` attribute of `fixtures-core`. Use it through `fixtures_core::fixture`;
//! the documentation lives there.

use proc_macro::TokenStream;
use quote::quote;

mod expand;
mod parse;
mod skip;

/// Declares a scoped fixture. See `fixtures_core` for the documentation.
///
/// `#[fixture(scope = test | module | suite)]` on a function (sync or `async`) whose
/// arguments are other fixtures (by name, as `Lease<T>`) and optionally `&Setup`, returning
/// `T` or `Result<T, E>`. It generates:
/// - a function of the same name returning `Lease<T>` (rstest injects it by name);
/// - the rstest resolver (`name::default()`) and `name::fixture()`, the static behind it;
/// - the `inventory` registration of the declaration.
///
/// The generated code names fixtures-core as `::fixtures_core`; `crate = path` names it
/// otherwise, for a crate that reaches fixtures-core through a re-export (a macro of another
/// crate passes `crate = $crate::fixtures_core`).
#[proc_macro_attribute]
pub fn fixture(attr: TokenStream, item: TokenStream) -> TokenStream {
    fixture_with(attr, item, quote!(::fixtures_core))
}

/// `#[fixture(scope = test | module | suite)]` as fixtures-postgres re-exports it: fixtures-core's
/// attribute (see its documentation), whose code reaches fixtures-core through
/// `::fixtures_postgres::fixtures_core`. Where fixtures-postgres goes by another name (a renamed
/// dependency, a re-export), say where fixtures-core is with `crate = path`.
#[proc_macro_attribute]
pub fn fixture_via_postgres(attr: TokenStream, item: TokenStream) -> TokenStream {
    fixture_with(attr, item, quote!(::fixtures_postgres::fixtures_core))
}

/// Marks a test (or an inline module of tests) as needing Docker or Postgres, for the skip
/// switch. See `fixtures_core::needs_services` for the documentation.
#[proc_macro_attribute]
pub fn needs_services(attr: TokenStream, item: TokenStream) -> TokenStream {
    match skip::expand(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn fixture_with(
    attr: TokenStream,
    item: TokenStream,
    default_crate: proc_macro2::TokenStream,
) -> TokenStream {
    match parse::Fixture::parse(attr.into(), item.into()) {
        Ok(f) => expand::expand(&f, default_crate).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
