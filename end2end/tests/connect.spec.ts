import { test, expect } from "@playwright/test";
import { createTenant, hydrated, issueLink, signIn } from "./helpers";

test("a tenant connects SAP Business One through its link and browses the discovered UDFs", async ({ page, browser }) => {
  await signIn(page);
  const tenant = await createTenant(page, "Globex Distribution");
  const url = await issueLink(page, "IT department");

  const holder = await browser.newContext();
  const p = await holder.newPage();
  await p.goto(url);
  await expect(p).toHaveURL(new RegExp(`/t/${tenant}$`));
  await hydrated(p);

  const sap = p.locator('.erp[data-erp="sap_b1"]');
  await sap.locator("summary").first().click();
  const form = p.getByTestId("connect-sap_b1-service_layer_user");
  await form.getByLabel("Name", { exact: true }).fill("Globex production");
  await form.getByLabel("Server address (required)").fill(process.env.E2E_SAP_URL!);
  await form.getByLabel("Company database").fill("SBODEMOUS");
  await form.getByLabel("User name").fill("manager");
  await form.getByLabel("Password").fill("globex-password");
  await form.getByRole("button", { name: "Connect" }).click();

  const result = p.getByTestId("connect-result");
  await expect(result).toContainText("Globex production");
  await expect(result.locator(".conn")).toHaveAttribute("data-status", "active");
  await expect(p.getByTestId("your-connections")).toContainText("Globex production");

  // Discovery ran: the tenant sees its own UDFs and user-defined table.
  const schema = p.getByTestId("schema");
  await expect(schema).toContainText("U_ProjectCode");
  await expect(schema).toContainText("U_Region");
  await expect(schema).toContainText("custom field");
  await p.getByLabel("Filter fields").fill("region");
  await expect(schema).toContainText("U_Region");
  await expect(schema).not.toContainText("U_ProjectCode");

  // The secret never comes back to the page, until its owner asks to export it.
  await expect(p.locator("body")).not.toContainText("globex-password");
  await p.getByTestId("your-connections").getByRole("button", { name: "Export credentials" }).click();
  await expect(p.getByTestId("exported-credentials")).toHaveValue(/"password":"globex-password"/);

  // Staff see the connection and its schema on the tenant page.
  await page.goto(`/tenants/${tenant}`);
  await expect(page.getByTestId("connections-panel")).toContainText("Globex production");
  await expect(page.getByTestId("connections-panel").locator(".conn")).toHaveAttribute("data-status", "active");
  await expect(page.getByTestId("schema-panel")).toContainText("U_ProjectCode");
  await expect(page.getByRole("button", { name: "Export credentials" })).toHaveCount(0);
  await holder.close();
});

test("wrong ERP credentials are reported without leaking them", async ({ page, browser }) => {
  await signIn(page);
  await createTenant(page, "Typo Industries");
  const url = await issueLink(page, "Typo");
  const holder = await browser.newContext();
  const p = await holder.newPage();
  await p.goto(url);
  await hydrated(p);
  await p.locator('.erp[data-erp="sap_b1"] summary').first().click();
  const form = p.getByTestId("connect-sap_b1-service_layer_user");
  await form.getByLabel("Server address (required)").fill(process.env.E2E_SAP_URL!);
  await form.getByLabel("Company database").fill("SBODEMOUS");
  await form.getByLabel("User name").fill("manager");
  await form.getByLabel("Password").fill("not-the-password");
  await form.getByRole("button", { name: "Connect" }).click();
  await expect(p.getByTestId("connect-result").locator(".conn")).toHaveAttribute("data-status", "needs_reauth");
  await expect(p.locator("body")).not.toContainText("not-the-password");
  await holder.close();
});

test("staff compare a tenant's NetSuite sandbox against production", async ({ page }) => {
  await signIn(page);
  const tenant = await createTenant(page, "Acme Drift Check");
  // Staff may use the tenant's onboarding page too.
  await page.goto(`/t/${tenant}`);
  await hydrated(page);
  const sim = process.env.E2E_SIM_BASE!;
  for (const [env, account, tokenId, tokenSecret] of [
    ["production", "1234567", "acme-token-id", "acme-token-secret"],
    ["sandbox", "1234567_SB1", "acme-sb-token-id", "acme-sb-token-secret"],
  ]) {
    const form = page.getByTestId("connect-netsuite-tba");
    if (!(await form.isVisible())) {
      await page.locator("details:has([data-testid=connect-netsuite-tba]) > summary").click();
    }
    await form.getByLabel("Name", { exact: true }).fill(`Acme ${env}`);
    await form.getByLabel("Environment").selectOption(env);
    await form.locator("input[name=base_url]").fill(`${sim}/a/${account}`);
    await form.locator('input[name="settings[account_id]"]').fill(account);
    await form.locator('input[name="fields[consumer_key]"]').fill("acme-consumer-key");
    await form.locator('input[name="fields[consumer_secret]"]').fill("acme-consumer-secret");
    await form.locator('input[name="fields[token_id]"]').fill(tokenId);
    await form.locator('input[name="fields[token_secret]"]').fill(tokenSecret);
    await form.getByRole("button", { name: "Connect" }).click();
    await expect(page.getByTestId("your-connections")).toContainText(`Acme ${env}`);
  }
  await page.goto(`/tenants/${tenant}`);
  const drift = page.getByTestId("drift-panel");
  await expect(drift).toContainText("Acme production against Acme sandbox");
  await expect(drift.locator("tr", { hasText: "salesOrder.custbody_plant" })).toContainText("only in production");
  await expect(drift).toContainText("customsearch_sales_summary");
});
