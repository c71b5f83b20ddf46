//! Small building blocks shared by the pages.

use crate::api::{whoami, SignOut};
use crate::error::AppError;
use domain::Principal;
use leptos::prelude::*;

/// The session's CSRF token: from the request on the server, from the page's meta tag in
/// the browser, so that server rendering and hydration agree.
pub fn csrf_token() -> String {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .and_then(|p| {
                p.extensions
                    .get::<crate::ssr::RequestAuth>()
                    .map(|a| a.csrf_token.clone())
            })
            .unwrap_or_default()
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector("meta[name=csrf-token]").ok().flatten())
            .and_then(|m| m.get_attribute("content"))
            .unwrap_or_default()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        String::new()
    }
}

/// The hidden field every state-changing form carries.
#[component]
pub fn CsrfField() -> impl IntoView {
    view! { <input type="hidden" name="csrf_token" value=csrf_token()/> }
}

/// An error message in the page's standard alert style.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    view! { <p class="alert error" role="alert" data-code=error.code.as_str()>{error.message}</p> }
}

/// The top bar: product name, navigation for staff, who is signed in and sign-out.
#[component]
pub fn TopBar() -> impl IntoView {
    let me = Resource::new(|| (), |_| whoami());
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Switchyard"</a>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(p)) => {
                            let (who, staff, admin) = match &p {
                                Principal::Staff { email, .. } => (email.clone(), true, p.is_admin()),
                                Principal::LinkHolder { .. } => ("Onboarding link".to_string(), false, false),
                            };
                            view! {
                                <nav>
                                    <Show when=move || staff>
                                        <a href="/tenants">"Tenants"</a>
                                    </Show>
                                    <Show when=move || admin>
                                        <a href="/staff">"Staff"</a>
                                    </Show>
                                </nav>
                                <span class="who" data-testid="who">{who}</span>
                                <ActionForm action=sign_out attr:class="inline">
                                    <CsrfField/>
                                    <button type="submit" class="link">"Sign out"</button>
                                </ActionForm>
                            }
                                .into_any()
                        }
                        _ => view! { <span></span> }.into_any(),
                    }
                })}
            </Suspense>
        </header>
    }
}

pub fn when(ms: i64) -> String {
    domain::format_utc(ms)
}
