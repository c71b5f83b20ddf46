//! The pages of the app, one component each.

use crate::api::*;
use crate::components::{when, CsrfField, ErrorBox, TopBar};
use crate::connect::{
    ConnectPanel, ConnectionLine, DriftReport, ExportButton, RecheckButton, SchemaBrowser,
};
use domain::views::LinkState;
use domain::TenantId;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

fn param_id() -> impl Fn() -> TenantId + Copy {
    let params = use_params_map();
    move || TenantId(params.read().get("id").unwrap_or_default())
}

#[component]
pub fn Home() -> impl IntoView {
    view! {
        <TopBar/>
        <main class="page narrow">
            <h1>"Switchyard"</h1>
            <p>"Connect your customers' NetSuite, SAP Business One and Sage Intacct systems."</p>
            <p><a class="button" href="/tenants">"Open the tenant list"</a></p>
        </main>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let value = action.value();
    let pending = action.pending();
    view! {
        <main class="page auth">
            <h1>"Sign in to Switchyard"</h1>
            <ActionForm action=action attr:class="card form" attr:data-testid="sign-in-form">
                <CsrfField/>
                <label>"Email" <input type="email" name="email" required autocomplete="username" maxlength="254"/></label>
                <label>
                    "Password"
                    <input type="password" name="password" required autocomplete="current-password" maxlength="1024"/>
                </label>
                <button type="submit" disabled=move || pending.get()>"Sign in"</button>
            </ActionForm>
            {move || value.get().and_then(|r| r.err()).map(|e| view! { <ErrorBox error=e/> })}
        </main>
    }
}

#[component]
pub fn TenantsPage() -> impl IntoView {
    let create = ServerAction::<CreateTenant>::new();
    let tenants = Resource::new(
        move || create.version().get(),
        |_| list_tenants(String::new()),
    );
    // The filter runs in the browser as you type; it only works once hydrated.
    let filter = RwSignal::new(String::new());
    view! {
        <TopBar/>
        <main class="page">
            <h1>"Tenants"</h1>
            <section class="card">
                <h2>"New tenant"</h2>
                <ActionForm action=create attr:class="form row" attr:data-testid="create-tenant-form">
                    <CsrfField/>
                    <input type="text" name="name" placeholder="Company name" required maxlength="120"/>
                    <button type="submit">"Create tenant"</button>
                </ActionForm>
                {move || create.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox error=e/> })}
            </section>
            <section class="card">
                <input
                    type="search"
                    class="search"
                    placeholder="Filter tenants by name"
                    aria-label="Filter tenants"
                    prop:value=move || filter.get()
                    on:input=move |ev| filter.set(event_target_value(&ev))
                />
                <Suspense fallback=|| view! { <p>"Loading tenants..."</p> }>
                    {move || Suspend::new(async move {
                        match tenants.await {
                            Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                            Ok(list) if list.is_empty() => {
                                view! { <p class="empty">"No tenants yet. Create the first one above."</p> }.into_any()
                            }
                            Ok(list) => {
                                let list = StoredValue::new(list);
                                view! {
                                    <table class="list" data-testid="tenant-list">
                                        <thead>
                                            <tr><th>"Name"</th><th>"Connections"</th><th>"Active links"</th><th>"Created"</th></tr>
                                        </thead>
                                        <tbody>
                                            {move || {
                                                let f = filter.get().to_lowercase();
                                                list.get_value()
                                                    .into_iter()
                                                    .filter(|t| f.is_empty() || t.name.to_lowercase().contains(&f) || t.slug.contains(&f))
                                                    .map(|t| {
                                                        view! {
                                                            <tr>
                                                                <td><a href=format!("/tenants/{}", t.id)>{t.name.clone()}</a></td>
                                                                <td>{t.connection_count}</td>
                                                                <td>{t.active_links}</td>
                                                                <td>{when(t.created_at)}</td>
                                                            </tr>
                                                        }
                                                    })
                                                    .collect_view()
                                            }}
                                        </tbody>
                                    </table>
                                }
                                    .into_any()
                            }
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}

#[component]
pub fn TenantPage() -> impl IntoView {
    let id = param_id();
    let issue = ServerAction::<IssueLink>::new();
    let revoke = ServerAction::<RevokeLink>::new();
    let recheck = ServerAction::<RecheckConnection>::new();
    let detail = Resource::new(
        move || (id(), recheck.version().get()),
        |(t, _)| get_tenant(t),
    );
    let links = Resource::new(
        move || (id(), issue.version().get(), revoke.version().get()),
        |(t, _, _)| list_links(t),
    );
    let audit = Resource::new(
        move || (id(), issue.version().get(), revoke.version().get()),
        |(t, _, _)| tenant_audit(t),
    );
    view! {
        <TopBar/>
        <main class="page">
            <Suspense fallback=|| view! { <p>"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(d) => {
                            let connections = d.connections.clone();
                            view! {
                                <h1 data-testid="tenant-name">{d.tenant.name.clone()}</h1>
                                <p class="muted">"Slug " <code>{d.tenant.slug.clone()}</code> " · created " {when(d.tenant.created_at)}</p>
                                <div class="panels">
                                    <section class="card" data-testid="connections-panel">
                                        <h2>"Connections"</h2>
                                        {if connections.is_empty() {
                                            view! { <p class="empty">"No ERP connected yet. Send the tenant an onboarding link to connect one."</p> }.into_any()
                                        } else {
                                            view! {
                                                <ul class="plain">
                                                    {connections.into_iter().map(|c| {
                                                        let cid = c.id.clone();
                                                        view! {
                                                            <li><ConnectionLine c=c/> " " <RecheckButton tenant=id() connection_id=cid action=recheck/></li>
                                                        }
                                                    }).collect_view()}
                                                </ul>
                                            }.into_any()
                                        }}
                                    </section>
                                    <section class="card" data-testid="mappings-panel">
                                        <h2>"Field mappings"</h2>
                                        <p class="empty">"Mappings from the ERP's fields onto the product's logical fields appear here once a schema has been discovered."</p>
                                    </section>
                                </div>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
            {move || recheck.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox error=e/> })}
            <section class="card" data-testid="schema-panel">
                <h2>"Schema"</h2>
                <SchemaBrowser tenant=Signal::derive(id) version=Signal::derive(move || recheck.version().get())/>
            </section>
            <section class="card" data-testid="drift-panel">
                <h2>"Sandbox against production"</h2>
                <DriftReport tenant=Signal::derive(id) version=Signal::derive(move || recheck.version().get())/>
            </section>
            <section class="card" data-testid="links-panel">
                <h2>"Onboarding links"</h2>
                <p class="muted">"A link lets its holder connect this tenant's ERP, and nothing else. It is shown once; only a hash is kept."</p>
                <ActionForm action=issue attr:class="form row" attr:data-testid="issue-link-form">
                    <CsrfField/>
                    <input type="hidden" name="tenant_id" value=move || id().0/>
                    <input type="text" name="label" placeholder="Label (e.g. Finance team)" maxlength="120"/>
                    <select name="ttl_hours" aria-label="Expires after">
                        <option value="24">"Expires in 1 day"</option>
                        <option value="168" selected>"Expires in 7 days"</option>
                        <option value="720">"Expires in 30 days"</option>
                    </select>
                    <button type="submit">"Issue link"</button>
                </ActionForm>
                {move || issue.value().get().map(|r| match r {
                    Ok(issued) => view! {
                        <div class="alert ok" data-testid="issued-link">
                            <p>"Send this link to the tenant. It will not be shown again."</p>
                            <input type="text" readonly class="mono" value=issued.url.clone() data-testid="issued-link-url"/>
                        </div>
                    }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
                {move || revoke.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox error=e/> })}
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match links.await {
                            Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                            Ok(list) if list.is_empty() => view! { <p class="empty">"No links issued yet."</p> }.into_any(),
                            Ok(list) => view! {
                                <table class="list" data-testid="link-list">
                                    <thead><tr><th>"Label"</th><th>"State"</th><th>"Expires"</th><th>"Last used"</th><th>"Uses"</th><th></th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|l| {
                                            let active = l.state == LinkState::Active;
                                            let link_id = l.id.clone();
                                            view! {
                                                <tr data-link-id=l.id.clone()>
                                                    <td>{l.label.clone()}</td>
                                                    <td><span class=format!("badge {}", l.state.label())>{l.state.label()}</span></td>
                                                    <td>{when(l.expires_at)}</td>
                                                    <td>{l.last_used_at.map(when).unwrap_or_else(|| "never".into())}</td>
                                                    <td>{l.use_count}</td>
                                                    <td>
                                                        {active.then(|| view! {
                                                            <ActionForm action=revoke attr:class="inline">
                                                                <CsrfField/>
                                                                <input type="hidden" name="tenant_id" value=move || id().0/>
                                                                <input type="hidden" name="link_id" value=link_id/>
                                                                <button type="submit" class="danger">"Revoke"</button>
                                                            </ActionForm>
                                                        })}
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
            <section class="card">
                <h2>"Audit log"</h2>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match audit.await {
                            Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                            Ok(list) => view! {
                                <table class="list compact" data-testid="audit-list">
                                    <tbody>
                                        {list.into_iter().map(|a| view! {
                                            <tr><td>{when(a.at)}</td><td>{a.actor}</td><td><code>{a.action}</code></td></tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}

#[component]
pub fn OnboardingPage() -> impl IntoView {
    let id = param_id();
    let connect = ServerAction::<ConnectErp>::new();
    let recheck = ServerAction::<RecheckConnection>::new();
    let changed = Signal::derive(move || connect.version().get() + recheck.version().get());
    let info = Resource::new(move || (id(), changed.get()), |(t, _)| onboarding_info(t));
    view! {
        <TopBar/>
        <main class="page">
            <Suspense fallback=|| view! { <p>"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match info.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(info) => {
                            let tenant = info.tenant_id.clone();
                            let holder = info.viewer_is_holder;
                            view! {
                                <h1 data-testid="onboarding-title">"Connect " {info.tenant_name.clone()} "'s ERP"</h1>
                                <p>"Choose the system your company runs and how to sign in. Secrets go straight into Switchyard's vault and are never shown again; you can revoke them in your ERP at any time."</p>
                                <section class="card" data-testid="your-connections">
                                    <h2>"Your connections"</h2>
                                    {if info.connections.is_empty() {
                                        view! { <p class="empty">"Nothing connected yet."</p> }.into_any()
                                    } else {
                                        view! { <ul class="plain">{info.connections.into_iter().map(|c| {
                                            let cid = c.id.clone();
                                            view! {
                                                <li>
                                                    <ConnectionLine c=c/> " "
                                                    <RecheckButton tenant=tenant.clone() connection_id=cid.clone() action=recheck/> " "
                                                    {holder.then(|| view! { <ExportButton tenant=tenant.clone() connection_id=cid.clone()/> })}
                                                </li>
                                            }
                                        }).collect_view()}</ul> }.into_any()
                                    }}
                                </section>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
            {move || recheck.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox error=e/> })}
            <ConnectPanel tenant=id() action=connect/>
            <section class="card">
                <h2>"What we found in your ERP"</h2>
                <SchemaBrowser tenant=Signal::derive(id) version=changed/>
            </section>
        </main>
    }
}

#[component]
pub fn StaffPage() -> impl IntoView {
    let create = ServerAction::<CreateStaff>::new();
    let staff = Resource::new(move || create.version().get(), |_| list_staff());
    view! {
        <TopBar/>
        <main class="page">
            <h1>"Staff"</h1>
            <section class="card">
                <h2>"Add a staff member"</h2>
                <ActionForm action=create attr:class="form grid">
                    <CsrfField/>
                    <input type="email" name="email" placeholder="Email" required/>
                    <input type="text" name="name" placeholder="Name" required/>
                    <input type="password" name="password" placeholder="Password (12+ characters)" required minlength="12"/>
                    <select name="role" aria-label="Role">
                        <option value="support" selected>"Support"</option>
                        <option value="admin">"Admin"</option>
                    </select>
                    <button type="submit">"Add"</button>
                </ActionForm>
                {move || create.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox error=e/> })}
            </section>
            <section class="card">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match staff.await {
                            Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                            Ok(list) => view! {
                                <table class="list">
                                    <thead><tr><th>"Email"</th><th>"Name"</th><th>"Role"</th><th>"Last sign-in"</th></tr></thead>
                                    <tbody>{list.into_iter().map(|s| view! {
                                        <tr><td>{s.email}</td><td>{s.name}</td><td>{s.role.key()}</td>
                                        <td>{s.last_sign_in_at.map(when).unwrap_or_else(|| "never".into())}</td></tr>
                                    }).collect_view()}</tbody>
                                </table>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}

#[component]
pub fn LinkRefusedPage() -> impl IntoView {
    let params = use_params_map();
    let reason = move || params.read().get("reason").unwrap_or_default();
    let text = move || match reason().as_str() {
        "expired" => (
            "This onboarding link has expired.",
            "Ask your contact for a new link.",
        ),
        "revoked" => (
            "This onboarding link has been revoked.",
            "Ask your contact for a new link.",
        ),
        _ => (
            "This onboarding link is not valid.",
            "Check that you copied the whole link, or ask for a new one.",
        ),
    };
    view! {
        <main class="page narrow">
            <h1 data-testid="link-refused">{move || text().0}</h1>
            <p>{move || text().1}</p>
        </main>
    }
}

#[component]
pub fn Denied() -> impl IntoView {
    view! {
        <main class="page narrow">
            <h1 data-testid="denied">"Access denied"</h1>
            <p>"You do not have access to this page. If you reached it from an onboarding link, that link only opens its own tenant's pages."</p>
        </main>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="page narrow">
            <h1 data-testid="not-found">"Page not found"</h1>
            <p><a href="/">"Back to the start"</a></p>
        </main>
    }
}
