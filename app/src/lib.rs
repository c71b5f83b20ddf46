//! Switchyard's web app: Leptos pages rendered on the server and hydrated in the browser.
//! Server functions live in [`api`]; server-only plumbing behind the `ssr` feature.

#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod connect;
pub mod error;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The HTML document around the app, rendered only on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let csrf = components::csrf_token();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="csrf-token" content=csrf/>
                <link rel="icon" href="/favicon.ico"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, after hydration: end-to-end tests wait for this
    // mark before they click, since a click on unhydrated markup is silently lost.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/switchyard.css"/>
        <Title text="Switchyard"/>
        <Router>
            <Routes fallback=|| view! { <pages::NotFound/> }>
                <Route path=path!("/") view=pages::Home/>
                <Route path=path!("/login") view=pages::LoginPage/>
                <Route path=path!("/tenants") view=pages::TenantsPage/>
                <Route path=path!("/tenants/:id") view=pages::TenantPage/>
                <Route path=path!("/t/:id") view=pages::OnboardingPage/>
                <Route path=path!("/staff") view=pages::StaffPage/>
                <Route path=path!("/link/:reason") view=pages::LinkRefusedPage/>
                <Route path=path!("/denied") view=pages::Denied/>
            </Routes>
        </Router>
    }
}
