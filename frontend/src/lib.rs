//! The browser entry point: hydrates the server-rendered page into the live app.

// Leptos view types nest deeply; the hydrate build needs more than the default 128.
#![recursion_limit = "512"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
