// Swagger UI in a real browser (Debian's Chromium driven by Playwright), against the real app on a
// real port, with every request to a host other than loopback blocked: the page must render from
// installed packages alone and must not even try to reach the internet.
import { afterAll, expect, test } from "bun:test";
import { type Browser, chromium } from "@playwright/test";
import { createApp } from "../src/app.ts";
import { createTestContext } from "./support/context.ts";

const ctx = await createTestContext();
const app = createApp(ctx.deps).listen({ port: 0, hostname: "127.0.0.1" });
const base = `http://127.0.0.1:${app.server!.port}`;

let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  await app.stop();
});

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
/** Schemes that never touch the network. */
const LOCAL_SCHEMES = new Set(["data:", "blob:", "about:"]);

function isLocal(url: string): boolean {
  const u = new URL(url);
  return LOCAL_SCHEMES.has(u.protocol) || LOOPBACK.has(u.hostname);
}

const AUTH_PATHS = [
  "/api/v1/auth/register",
  "/api/v1/auth/login",
  "/api/v1/auth/refresh",
  "/api/v1/auth/logout",
  "/api/v1/auth/me",
];

const RENDER_DEADLINE_MS = 90_000;

test("Swagger UI renders offline from local assets and lists the auth endpoints", async () => {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext();
  const outside: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    outside.push(url);
    return route.abort("blockedbyclient");
  });

  const page = await context.newPage();
  const failed: string[] = [];
  const pageErrors: string[] = [];
  page.on("requestfailed", (req) => {
    if (isLocal(req.url())) failed.push(`${req.url()}: ${req.failure()?.errorText ?? "failed"}`);
  });
  page.on("response", (res) => {
    if (res.status() >= 400) failed.push(`${res.url()}: HTTP ${res.status()}`);
  });
  page.on("pageerror", (err) => pageErrors.push(err.message));

  const response = await page.goto(`${base}/swagger`, { waitUntil: "load" });
  expect(response?.status()).toBe(200);

  // Swagger UI has rendered the spec once the title and the operations are in the DOM. Parsing the
  // whole spec (over a megabyte) takes Chromium ~14 s on a quiet 2-core machine and more under a
  // loaded suite: the deadline waits on that state, it is not a delay.
  await page.locator(".swagger-ui .info .title").waitFor({ state: "visible", timeout: RENDER_DEADLINE_MS });
  await page.locator(".opblock").first().waitFor({ state: "visible", timeout: RENDER_DEADLINE_MS });
  await expect(page.locator(".swagger-ui .info .title").textContent()).resolves.toContain("Inkreel API");

  const listed = await page
    .locator(".opblock .opblock-summary-path")
    .evaluateAll((els) => els.map((el) => el.getAttribute("data-path") ?? el.textContent?.trim() ?? ""));
  for (const path of AUTH_PATHS) expect(listed).toContain(path);

  // Let anything the UI fetches lazily (fonts, images) settle before judging the network.
  await page.waitForLoadState("networkidle");
  expect(outside).toEqual([]);
  expect(failed).toEqual([]);
  expect(pageErrors).toEqual([]);
  await context.close();
});
