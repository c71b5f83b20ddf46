import { test, expect } from "@playwright/test";
import { execFileSync } from "child_process";
import * as path from "path";
import { createTenant, hydrated, issueLink, signIn } from "./helpers";

test("a wrong password gets a clear message", async ({ page }) => {
  await signIn(page, "admin@example.com", "not-the-password", false);
  await expect(page.getByRole("alert")).toHaveText("Wrong email or password.");
  await expect(page).toHaveURL(/\/login$/);
});

test("admin signs in, creates a tenant and sees it in the list", async ({ page }) => {
  await signIn(page);
  await expect(page).toHaveURL(/\/tenants$/);
  await expect(page.getByTestId("who")).toHaveText("admin@example.com");
  const id = await createTenant(page, "Acme Manufacturing");
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  await page.goto("/tenants");
  await expect(page.getByTestId("tenant-list")).toContainText("Acme Manufacturing");
});

test("the tenant filter works after hydration", async ({ page }) => {
  await signIn(page);
  await createTenant(page, "Northwind Health");
  await createTenant(page, "Contoso Construction");
  await page.goto("/tenants");
  await hydrated(page);
  const list = page.getByTestId("tenant-list");
  await expect(list).toContainText("Northwind Health");
  await expect(list).toContainText("Contoso Construction");
  // Filtering happens in the browser as you type: only hydrated code can do it.
  await page.getByLabel("Filter tenants").fill("northwind");
  await expect(list).toContainText("Northwind Health");
  await expect(list).not.toContainText("Contoso Construction");
});

test("an onboarding link opens its tenant and nothing else", async ({ page, browser }) => {
  await signIn(page);
  const other = await createTenant(page, "Other Tenant Ltd");
  const mine = await createTenant(page, "Linked Tenant Inc");
  const url = await issueLink(page, "Finance team");

  const holder = await browser.newContext();
  const p = await holder.newPage();
  await p.goto(url);
  await expect(p).toHaveURL(new RegExp(`/t/${mine}$`));
  await expect(p.getByTestId("onboarding-title")).toContainText("Linked Tenant Inc");
  await expect(p.locator(".erp")).toHaveCount(3);

  // Another tenant's onboarding page, and the staff pages, are refused.
  for (const path of [`/t/${other}`, `/tenants/${other}`, "/tenants"]) {
    const res = await p.goto(path);
    expect(res?.status(), path).toBe(403);
    await expect(p.getByTestId("denied")).toBeVisible();
    await expect(p.locator("body")).not.toContainText("Other Tenant Ltd");
  }

  // Staff see when the link was last used.
  await page.reload();
  await expect(page.getByTestId("link-list")).toContainText("Finance team");
  await expect(page.getByTestId("link-list").locator("tr", { hasText: "Finance team" })).not.toContainText("never");
  await holder.close();
});

test("expired and revoked links get a clear page", async ({ page, browser }) => {
  await signIn(page);
  await createTenant(page, "Revocation Co");
  const url = await issueLink(page, "To revoke");
  const row = page.getByTestId("link-list").locator("tr", { hasText: "To revoke" });
  await row.getByRole("button", { name: "Revoke" }).click();
  await expect(row).toContainText("revoked");

  const holder = await browser.newContext();
  const p = await holder.newPage();
  const res = await p.goto(url);
  expect(res?.status()).toBe(410);
  await expect(p.getByTestId("link-refused")).toHaveText("This onboarding link has been revoked.");

  // An expired link: age one in the database (Python's stdlib sqlite3), then open it.
  const url2 = await issueLink(page, "To expire");
  const linkId = await page.getByTestId("link-list").locator("tr", { hasText: "To expire" }).getAttribute("data-link-id");
  const db = path.join(process.env.E2E_DATA_DIR!, "switchyard.db");
  execFileSync("python3", [
    "-c",
    "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE onboarding_links SET expires_at=? WHERE id=?', (int(time.time()*1000)-1000, sys.argv[2])); c.commit()",
    db,
    linkId!,
  ]);
  const res2 = await p.goto(url2);
  expect(res2?.status()).toBe(410);
  await expect(p.getByTestId("link-refused")).toHaveText("This onboarding link has expired.");
  await page.reload();
  await expect(page.getByTestId("link-list").locator("tr", { hasText: "To expire" })).toContainText("expired");
  await holder.close();
});
