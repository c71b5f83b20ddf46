import { expect, Page } from "@playwright/test";

export const ADMIN_EMAIL = "admin@example.com";
export const ADMIN_PASSWORD = "e2e-admin-password-42";

/** Waits until the wasm has hydrated the page; clicks before that are lost. */
export async function hydrated(page: Page) {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

export async function signIn(page: Page, email = ADMIN_EMAIL, password = ADMIN_PASSWORD, expectSuccess = true) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  if (expectSuccess) {
    await expect(page).toHaveURL(/\/tenants$/);
  }
}

/** Creates a tenant through the UI and returns its id (from the detail page URL). */
export async function createTenant(page: Page, name: string): Promise<string> {
  await page.goto("/tenants");
  await hydrated(page);
  const form = page.getByTestId("create-tenant-form");
  await form.getByPlaceholder("Company name").fill(name);
  await form.getByRole("button", { name: "Create tenant" }).click();
  await expect(page).toHaveURL(/\/tenants\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("tenant-name")).toHaveText(name);
  return page.url().split("/").pop()!;
}

/** Issues an onboarding link on the tenant page that is open; returns its URL. */
export async function issueLink(page: Page, label: string): Promise<string> {
  await hydrated(page);
  const url = page.getByTestId("issued-link-url");
  // A link issued earlier on this page may still be shown: wait for a new one.
  const previous = (await url.count()) > 0 ? await url.inputValue() : "";
  const form = page.getByTestId("issue-link-form");
  await form.getByPlaceholder("Label (e.g. Finance team)").fill(label);
  await form.getByRole("button", { name: "Issue link" }).click();
  await expect(url).toBeVisible();
  await expect(url).not.toHaveValue(previous);
  await expect(page.getByTestId("link-list")).toContainText(label);
  return await url.inputValue();
}
