//! The `#[fixture]` attribute of `fixtures-core`. Use it through `fixtures_core::fixture`;
//! the documentation lives there.

use proc_macro::TokenStream;

mod expand;
mod parse;

/// Declares a scoped fixture. See `fixtures_core` for the documentation.
///
/// `#[fixture(scope = test | module | suite)]` on a function (sync or `async`) whose
/// arguments are other fixtures (by name, as `Lease<T>`) and optionally `&Setup`, returning
/// `T` or `Result<T, E>`. It generates:
/// - a function of the same name returning `Lease<T>` (rstest injects it by name);
/// - the rstest resolver (`name::default()`) and `name::fixture()`, the static behind it;
/// - the `inventory` registration of the declaration.
#[proc_macro_attribute]
pub fn fixture(attr: TokenStream, item: TokenStream) -> TokenStream {
    match parse::Fixture::parse(attr.into(), item.into()) {
        Ok(f) => expand::expand(&f).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
