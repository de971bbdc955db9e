//! The code `#[fixture]` generates.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use crate::parse::{Arg, Fixture};

/// `default_crate`: the path to fixtures-core when the attribute has no `crate = path`.
pub(crate) fn expand(f: &Fixture, default_crate: TokenStream) -> TokenStream {
    let Fixture {
        scope,
        vis,
        name,
        docs,
        other_attrs,
        value,
        output,
        block,
        ..
    } = f;
    let krate = match &f.krate {
        Some(path) => quote!(#path),
        None => default_crate,
    };
    let name_str = name.to_string();
    let body_fn = format_ident!("__{}_body", name);
    let params = f.args.iter().map(|a| match a {
        Arg::Dependency { name, ty } | Arg::Setup { name, ty } => quote!(#name: #ty),
    });
    let asyncness = f.is_async.then(|| quote!(async));
    let leases = f.args.iter().filter_map(|a| match a {
        Arg::Dependency { name, .. } if f.is_async => {
            Some(quote!(let #name = __ctx.lease_async(#name::fixture()).await?;))
        }
        Arg::Dependency { name, .. } => Some(quote!(let #name = __ctx.lease(#name::fixture())?;)),
        Arg::Setup { .. } => None,
    });
    let call_args = f.args.iter().map(|a| match a {
        Arg::Dependency { name, .. } => quote!(#name),
        Arg::Setup { .. } => quote!(&__ctx),
    });
    let call = if f.is_async {
        quote!(#body_fn(#(#call_args),*).await)
    } else {
        quote!(#body_fn(#(#call_args),*))
    };
    let finish = if f.returns_result {
        quote!(#call.map_err(::core::convert::Into::<#krate::BoxError>::into))
    } else {
        quote!(::core::result::Result::Ok(#call))
    };
    let setup_fn = if f.is_async {
        quote! {
            fn __setup(__ctx: #krate::Setup) -> #krate::SetupFuture<#value> {
                ::std::boxed::Box::pin(async move {
                    #(#leases)*
                    #finish
                })
            }
            #krate::SetupFn::Async(__setup)
        }
    } else {
        quote! {
            fn __setup(__ctx: #krate::Setup) -> ::core::result::Result<#value, #krate::BoxError> {
                #(#leases)*
                #finish
            }
            #krate::SetupFn::Blocking(__setup)
        }
    };
    let line = quote_spanned!(f.span=> ::core::line!());
    quote! {
        #[allow(non_camel_case_types)]
        #[doc(hidden)]
        #vis struct #name {}

        impl #name {
            /// The static behind this fixture.
            #[doc(hidden)]
            #vis fn fixture() -> &'static #krate::Fixture<#value> {
                #(#other_attrs)*
                #asyncness fn #body_fn(#(#params),*) -> #output #block

                static META: #krate::FixtureMeta = #krate::FixtureMeta::new(
                    #name_str,
                    #krate::Scope::#scope,
                    ::core::module_path!(),
                    ::core::file!(),
                    #line,
                );
                #krate::__private::inventory::submit! {
                    #krate::__private::Registration(&META)
                }
                static FIXTURE: #krate::Fixture<#value> = #krate::Fixture::new(&META, { #setup_fn });
                &FIXTURE
            }

            /// rstest's resolver: leases the fixture for the current test.
            #[doc(hidden)]
            #[track_caller]
            #vis fn default() -> #krate::Lease<#value> {
                Self::fixture().lease()
            }
        }

        #(#docs)*
        #[track_caller]
        #vis fn #name() -> #krate::Lease<#value> {
            #name::fixture().lease()
        }
    }
}
