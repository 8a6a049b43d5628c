// Placeholder page: shows the signed-in user. The full UI replaces this.
const el = document.getElementById("user");
fetch("/api/user/me").then(async (r) => {
  const body = await r.json();
  el.textContent = r.ok ? `Signed in as ${body.display_name || body.user_name}` : body.message;
});
