//! Connecting an ERP and browsing what was discovered in it: the forms built from the
//! connector declarations, and the schema browser.

use crate::api::{
    erp_catalog, schema_drift, tenant_schema, ConnectErp, ExportCredentials, RecheckConnection,
};
use crate::components::{when, CsrfField, ErrorBox};
use domain::catalog::{CatalogEntry, CredentialForm};
use domain::schema::{FieldType, Origin};
use domain::views::{ConnectionView, SchemaView};
use domain::TenantId;
use leptos::prelude::*;

fn origin_label(o: Origin) -> &'static str {
    match o {
        Origin::Standard => "standard",
        Origin::CustomRecord => "custom record",
        Origin::CustomField => "custom field",
        Origin::Dimension => "dimension",
        Origin::SavedSearch => "saved search",
    }
}

fn type_label(t: &FieldType) -> String {
    match t {
        FieldType::Text { max_len: Some(n) } => format!("text({n})"),
        FieldType::Text { max_len: None } => "text".into(),
        FieldType::Integer => "integer".into(),
        FieldType::Decimal => "decimal".into(),
        FieldType::Boolean => "boolean".into(),
        FieldType::Date => "date".into(),
        FieldType::DateTime => "date-time".into(),
        FieldType::Reference { object } => format!("→ {object}"),
        FieldType::Enum { values } => format!("one of {}", values.len()),
        FieldType::Other => "other".into(),
    }
}

/// A connection's status line.
#[component]
pub fn ConnectionLine(c: ConnectionView) -> impl IntoView {
    view! {
        <span class="conn" data-connection-id=c.id.clone() data-status=c.status.key()>
            <strong>{c.display_name}</strong> " · " {c.erp.display_name()} " · " {c.environment.key()} " · "
            <span class=format!("badge {}", c.status.key())>{c.status.key()}</span>
            {c.status_detail.map(|d| view! { <span class="muted detail">" " {d}</span> })}
        </span>
    }
}

/// One form per credential kind of one ERP.
#[component]
fn ConnectForm(
    tenant: TenantId,
    entry: CatalogEntry,
    kind: CredentialForm,
    action: ServerAction<ConnectErp>,
) -> impl IntoView {
    let test_id = format!("connect-{}-{}", entry.erp.key(), kind.key);
    let address_label = if entry.needs_base_url {
        "Server address (required)"
    } else {
        "Server address (leave empty for the standard one)"
    };
    view! {
        <details class="connect">
            <summary>{kind.label.clone()}</summary>
            <p class="muted">{kind.help.clone()}</p>
            <ActionForm action=action attr:class="form" attr:data-testid=test_id>
                <CsrfField/>
                <input type="hidden" name="tenant_id" value=tenant.0.clone()/>
                <input type="hidden" name="erp" value=entry.erp.key()/>
                <input type="hidden" name="credential_kind" value=kind.key.clone()/>
                <label>"Name" <input type="text" name="display_name" maxlength="120" placeholder=format!("{} production", entry.display_name)/></label>
                <label>
                    "Environment"
                    <select name="environment">
                        {entry.environments.iter().map(|e| view! { <option value=e.key()>{e.key()}</option> }).collect_view()}
                    </select>
                </label>
                <label>{address_label} <input type="text" name="base_url" required=entry.needs_base_url maxlength="2048" placeholder="https://"/></label>
                {entry.settings.iter().map(|f| view! {
                    <label title=f.help.clone()>
                        {f.label.clone()}
                        <input type="text" name=format!("settings[{}]", f.key) required=f.required maxlength="4096"/>
                        <small class="muted">{f.help.clone()}</small>
                    </label>
                }).collect_view()}
                {kind.fields.iter().map(|f| view! {
                    <label title=f.help.clone()>
                        {f.label.clone()}
                        <input
                            type=if f.secret { "password" } else { "text" }
                            name=format!("fields[{}]", f.key)
                            required=f.required
                            autocomplete="off"
                            maxlength="4096"
                        />
                        <small class="muted">{f.help.clone()}</small>
                    </label>
                }).collect_view()}
                <button type="submit">"Connect"</button>
            </ActionForm>
        </details>
    }
}

/// The ERP catalog with a connection form for each way of signing in.
#[component]
pub fn ConnectPanel(tenant: TenantId, action: ServerAction<ConnectErp>) -> impl IntoView {
    let catalog = Resource::new(|| (), |_| erp_catalog());
    view! {
        <Suspense fallback=|| view! { <p>"Loading..."</p> }>
            {move || {
                let tenant = tenant.clone();
                Suspend::new(async move {
                    match catalog.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(entries) => view! {
                            <div class="erp-grid">
                                {entries.into_iter().map(|entry| {
                                    let tenant = tenant.clone();
                                    view! {
                                        <div class="card erp" data-erp=entry.erp.key()>
                                            <h2>{entry.display_name.clone()}</h2>
                                            {entry.credential_kinds.clone().into_iter().map(|kind| view! {
                                                <ConnectForm tenant=tenant.clone() entry=entry.clone() kind=kind action=action/>
                                            }).collect_view()}
                                        </div>
                                    }
                                }).collect_view()}
                            </div>
                        }.into_any(),
                    }
                })
            }}
        </Suspense>
        {move || action.value().get().map(|r| match r {
            Ok(c) => view! { <div class="alert ok" data-testid="connect-result"><ConnectionLine c=c/></div> }.into_any(),
            Err(e) => view! { <ErrorBox error=e/> }.into_any(),
        })}
    }
}

/// A "check again" button for one connection.
#[component]
pub fn RecheckButton(
    tenant: TenantId,
    connection_id: String,
    action: ServerAction<RecheckConnection>,
) -> impl IntoView {
    view! {
        <ActionForm action=action attr:class="inline">
            <CsrfField/>
            <input type="hidden" name="tenant_id" value=tenant.0/>
            <input type="hidden" name="connection_id" value=connection_id/>
            <button type="submit" class="small">"Check again"</button>
        </ActionForm>
    }
}

/// Lets the tenant take its own credentials back out of the vault (they own them).
#[component]
pub fn ExportButton(tenant: TenantId, connection_id: String) -> impl IntoView {
    let action = ServerAction::<ExportCredentials>::new();
    view! {
        <ActionForm action=action attr:class="inline">
            <CsrfField/>
            <input type="hidden" name="tenant_id" value=tenant.0/>
            <input type="hidden" name="connection_id" value=connection_id/>
            <button type="submit" class="small secondary">"Export credentials"</button>
        </ActionForm>
        {move || action.value().get().map(|r| match r {
            Ok(json) => view! {
                <div class="alert ok">
                    <p>"Your stored credentials (keep them safe):"</p>
                    <textarea readonly class="mono export" data-testid="exported-credentials">{json}</textarea>
                </div>
            }.into_any(),
            Err(e) => view! { <ErrorBox error=e/> }.into_any(),
        })}
    }
}

/// What discovery found: custom records, custom fields, dimensions and saved searches
/// first, with a count of the standard objects behind them.
#[component]
pub fn SchemaBrowser(tenant: Signal<TenantId>, version: Signal<usize>) -> impl IntoView {
    let schemas = Resource::new(
        move || (tenant.get(), version.get()),
        |(t, _)| tenant_schema(t),
    );
    let filter = RwSignal::new(String::new());
    view! {
        <Suspense fallback=|| view! { <p>"Loading schema..."</p> }>
            {move || Suspend::new(async move {
                match schemas.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">"Nothing discovered yet: the schema appears once a connection has been checked."</p>
                    }.into_any(),
                    Ok(list) => {
                        let list = StoredValue::new(list);
                        view! {
                            <input type="search" class="search" placeholder="Filter fields" aria-label="Filter fields"
                                prop:value=move || filter.get() on:input=move |ev| filter.set(event_target_value(&ev))/>
                            {move || list.get_value().into_iter().map(|s| view! { <SchemaTable s=s filter=filter.into()/> }).collect_view()}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn SchemaTable(s: SchemaView, filter: Signal<String>) -> impl IntoView {
    let standard = s
        .schema
        .objects
        .iter()
        .filter(|o| o.origin == Origin::Standard)
        .count();
    let changes = s.changes_since_previous.clone().filter(|d| !d.is_empty()).map(|d| {
        format!(
            "Since the previous discovery: {} object(s) added, {} removed, {} field(s) added, {} removed, {} changed.",
            d.only_right.len(),
            d.only_left.len(),
            d.fields_only_right.len(),
            d.fields_only_left.len(),
            d.fields_changed.len()
        )
    });
    // Rows: every non-standard object, and every non-standard field of any object.
    let mut rows = Vec::new();
    for o in &s.schema.objects {
        if o.origin != Origin::Standard {
            rows.push((
                o.name.clone(),
                String::new(),
                o.label.clone(),
                format!("{} field(s)", o.fields.len()),
                false,
                o.origin,
            ));
        }
        for f in &o.fields {
            if f.origin != Origin::Standard {
                rows.push((
                    o.name.clone(),
                    f.name.clone(),
                    f.label.clone(),
                    type_label(&f.field_type),
                    f.required,
                    f.origin,
                ));
            }
        }
    }
    let rows = StoredValue::new(rows);
    view! {
        <div class="schema" data-testid="schema" data-connection-id=s.connection_id.clone()>
            <h3>{s.connection_name.clone()} <span class="muted">" · version " {s.version} " · discovered " {when(s.discovered_at)}</span></h3>
            <p class="muted">{standard} " standard object(s) discovered. Customizations:"</p>
            {changes.map(|c| view! { <p class="alert ok">{c}</p> })}
            <table class="list compact">
                <thead><tr><th>"Object"</th><th>"Field"</th><th>"Label"</th><th>"Type"</th><th>"Required"</th><th>"Origin"</th></tr></thead>
                <tbody>
                    {move || {
                        let f = filter.get().to_lowercase();
                        rows.get_value().into_iter()
                            .filter(|r| f.is_empty() || r.0.to_lowercase().contains(&f) || r.1.to_lowercase().contains(&f) || r.2.to_lowercase().contains(&f))
                            .map(|(object, field, label, ty, required, origin)| view! {
                                <tr>
                                    <td><code>{object}</code></td>
                                    <td><code>{field}</code></td>
                                    <td>{label}</td>
                                    <td>{ty}</td>
                                    <td>{if required { "required" } else { "" }}</td>
                                    <td><span class="badge">{origin_label(origin)}</span></td>
                                </tr>
                            }).collect_view()
                    }}
                </tbody>
            </table>
        </div>
    }
}

/// Sandbox against production: what a mapping built on one would miss in the other.
#[component]
pub fn DriftReport(tenant: Signal<TenantId>, version: Signal<usize>) -> impl IntoView {
    let drift = Resource::new(
        move || (tenant.get(), version.get()),
        |(t, _)| schema_drift(t),
    );
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match drift.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">"Connect both a sandbox and a production system of one ERP to compare them."</p>
                    }.into_any(),
                    Ok(list) => list.into_iter().map(|d| {
                        let mut rows: Vec<(String, String)> = Vec::new();
                        for o in &d.diff.only_left { rows.push((o.clone(), "only in production".into())); }
                        for o in &d.diff.only_right { rows.push((o.clone(), "only in the sandbox".into())); }
                        for (o, f) in &d.diff.fields_only_left { rows.push((format!("{o}.{f}"), "only in production".into())); }
                        for (o, f) in &d.diff.fields_only_right { rows.push((format!("{o}.{f}"), "only in the sandbox".into())); }
                        for c in &d.diff.fields_changed {
                            rows.push((format!("{}.{}", c.object, c.field),
                                format!("production {} / sandbox {}", type_label(&c.left.field_type), type_label(&c.right.field_type))));
                        }
                        let empty = rows.is_empty();
                        view! {
                            <div class="drift" data-testid="drift" data-erp=d.erp.key()>
                                <h3>{d.erp.display_name()} ": " {d.production.clone()} " against " {d.sandbox.clone()}</h3>
                                {if empty {
                                    view! { <p class="muted">"No differences."</p> }.into_any()
                                } else {
                                    view! {
                                        <table class="list compact">
                                            <tbody>{rows.into_iter().map(|(what, how)| view! {
                                                <tr><td><code>{what}</code></td><td>{how}</td></tr>
                                            }).collect_view()}</tbody>
                                        </table>
                                    }.into_any()
                                }}
                            </div>
                        }
                    }).collect_view().into_any(),
                }
            })}
        </Suspense>
    }
}
