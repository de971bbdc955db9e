//! Reading `#[fixture(...)]` and the function it is on; every mistake is collected.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, ExprLit, FnArg, GenericArgument, Ident, ItemFn, Lit, Meta, Pat, Path,
    PathArguments, ReturnType, Token, Type, Visibility,
};

/// An argument of the fixture function.
pub(crate) enum Arg {
    /// Another fixture, leased by name.
    Dependency { name: Ident, ty: Box<Type> },
    /// The `&Setup` context.
    Setup { name: Ident, ty: Box<Type> },
}

pub(crate) struct Fixture {
    pub(crate) scope: Ident,
    /// `crate = path`: where the generated code finds fixtures-core (else the attribute's
    /// default).
    pub(crate) krate: Option<Path>,
    pub(crate) vis: Visibility,
    pub(crate) name: Ident,
    pub(crate) docs: Vec<Attribute>,
    pub(crate) other_attrs: Vec<Attribute>,
    pub(crate) is_async: bool,
    pub(crate) args: Vec<Arg>,
    /// The value type `T`.
    pub(crate) value: Type,
    /// The declared return type (`T` or `Result<T, E>`).
    pub(crate) output: Type,
    pub(crate) returns_result: bool,
    pub(crate) block: Box<syn::Block>,
    pub(crate) span: Span,
}

struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

impl Fixture {
    pub(crate) fn parse(attr: TokenStream, item: TokenStream) -> syn::Result<Fixture> {
        let func: ItemFn = syn::parse2(item)?;
        let mut errors = Errors(None);
        let (scope, krate) = parse_options(attr, &mut errors);
        let sig = &func.sig;
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.push(syn::Error::new(
                sig.generics.span(),
                "a fixture cannot be generic: each fixture is one static with one value type",
            ));
        }
        if sig.unsafety.is_some() || sig.constness.is_some() || sig.abi.is_some() {
            errors.push(syn::Error::new(
                sig.span(),
                "a fixture must be a plain `fn` or `async fn`",
            ));
        }
        let mut args = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(r) => errors.push(syn::Error::new(
                    r.span(),
                    "a fixture is a free function, not a method",
                )),
                FnArg::Typed(pt) => {
                    let Pat::Ident(pi) = &*pt.pat else {
                        errors.push(syn::Error::new(
                            pt.pat.span(),
                            "fixture arguments are named after the fixtures they need, e.g. `db: Lease<Db>`",
                        ));
                        continue;
                    };
                    let name = pi.ident.clone();
                    let ty = pt.ty.clone();
                    if is_setup_ref(&ty) {
                        args.push(Arg::Setup { name, ty });
                    } else {
                        args.push(Arg::Dependency { name, ty });
                    }
                }
            }
        }
        let (output, value, returns_result) = match &sig.output {
            ReturnType::Default => {
                errors.push(syn::Error::new(
                    sig.ident.span(),
                    "a fixture must return its value: `-> T` or `-> Result<T, E>`",
                ));
                (syn::parse_quote!(()), syn::parse_quote!(()), false)
            }
            ReturnType::Type(_, ty) => match result_ok_type(ty) {
                Some(ok) => ((**ty).clone(), ok, true),
                None => ((**ty).clone(), (**ty).clone(), false),
            },
        };
        if let Some(e) = errors.0 {
            return Err(e);
        }
        let (docs, other_attrs) = func
            .attrs
            .iter()
            .cloned()
            .partition(|a| a.path().is_ident("doc"));
        Ok(Fixture {
            scope,
            krate,
            vis: func.vis.clone(),
            name: sig.ident.clone(),
            docs,
            other_attrs,
            is_async: sig.asyncness.is_some(),
            args,
            value,
            output,
            returns_result,
            block: func.block.clone(),
            span: sig.ident.span(),
        })
    }
}

/// `scope = test | module | suite` and `crate = path`, both optional.
fn parse_options(attr: TokenStream, errors: &mut Errors) -> (Ident, Option<Path>) {
    let default = Ident::new("Test", Span::call_site());
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr) {
        Ok(m) => m,
        Err(e) => {
            errors.push(e);
            return (default, None);
        }
    };
    let mut scope = default;
    let mut krate = None;
    for meta in metas {
        let Meta::NameValue(nv) = &meta else {
            errors.push(syn::Error::new(
                meta.span(),
                "expected `scope = test | module | suite` or `crate = path`",
            ));
            continue;
        };
        if nv.path.is_ident("crate") {
            match &nv.value {
                Expr::Path(p) if p.qself.is_none() => krate = Some(p.path.clone()),
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => match s.parse::<Path>() {
                    Ok(p) => krate = Some(p),
                    Err(e) => errors.push(e),
                },
                other => errors.push(syn::Error::new(
                    other.span(),
                    "expected `crate = path`: where fixtures-core is reached from here, e.g. \
                     `crate = my_test_support::fixtures_core`",
                )),
            }
            continue;
        }
        if !nv.path.is_ident("scope") {
            errors.push(syn::Error::new(
                nv.path.span(),
                "unknown option: the options are `scope = test | module | suite` and \
                 `crate = path`",
            ));
            continue;
        }
        let word = match &nv.value {
            Expr::Path(p) => p.path.get_ident().map(|i| (i.to_string(), i.span())),
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Some((s.value(), s.span())),
            _ => None,
        };
        match word.as_ref().map(|(w, s)| (w.to_ascii_lowercase(), *s)) {
            Some((w, span)) if w == "test" => scope = Ident::new("Test", span),
            Some((w, span)) if w == "module" => scope = Ident::new("Module", span),
            Some((w, span)) if w == "suite" => scope = Ident::new("Suite", span),
            _ => errors.push(syn::Error::new(
                nv.value.span(),
                "unknown scope: expected `test` (a fresh instance per test, the cleanest), \
                 `module` (shared by a test module) or `suite` (shared by the run, the fastest)",
            )),
        }
    }
    (scope, krate)
}

/// `&Setup` (or `&fixtures_core::Setup`).
fn is_setup_ref(ty: &Type) -> bool {
    let Type::Reference(r) = ty else { return false };
    let Type::Path(p) = &*r.elem else {
        return false;
    };
    p.path.segments.last().is_some_and(|s| s.ident == "Setup")
}

/// `T` for `Result<T, E>` / `Result<T>` (any path ending in `Result`).
fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}
