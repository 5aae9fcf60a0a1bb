// The JSON API, read-only. Errors carry the server's short message.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET a JSON path under /api; the browser's cache revalidates with the ETag. */
export async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && typeof body.error === "string" ? body.error : response.statusText;
    throw new ApiError(response.status, message);
  }
  return body;
}

const enc = encodeURIComponent;
export const api = {
  studies: () => getJSON("/api/studies"),
  view: (key) => getJSON(`/api/studies/${enc(key)}`),
  revision: (key) => getJSON(`/api/studies/${enc(key)}/revision`).then((r) => r.revision),
  curves: (key) => getJSON(`/api/studies/${enc(key)}/curves`),
  trial: (key, index) => getJSON(`/api/studies/${enc(key)}/trials/${Number(index)}`),
  importance: (key) => getJSON(`/api/studies/${enc(key)}/importance`),
  predict: (key, cost) => getJSON(`/api/studies/${enc(key)}/predict?cost=${enc(cost)}`),
};
