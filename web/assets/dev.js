// The development sign-in page: POST /v1/dev/token, then links that carry the
// token to the desk and the chat page (in the URL fragment, never sent to a server).
const form = document.getElementById('dev-form');
const result = document.getElementById('dev-result');
const error = document.getElementById('dev-error');

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  error.textContent = '';
  const data = Object.fromEntries(new FormData(form));
  const response = await fetch('/v1/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: data.sub.trim(), name: data.name.trim() || undefined, role: data.role }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    error.textContent = body.error?.message || `sign-in failed (${response.status})`;
    return;
  }
  document.getElementById('dev-token').value = body.token;
  const fragment = `#token=${encodeURIComponent(body.token)}`;
  document.getElementById('open-desk').href = `/desk${fragment}`;
  document.getElementById('open-chat').href = `/chat${fragment}`;
  document.getElementById('open-widget').href =
    `/?user=${encodeURIComponent(body.sub)}&name=${encodeURIComponent(body.name || body.sub)}`;
  document.getElementById('open-desk').hidden = body.role === 'user';
  document.getElementById('open-widget').hidden = body.role !== 'user';
  result.hidden = false;
});
