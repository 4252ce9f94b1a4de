// Where the pages find the Incident Tracker API: the one place to change it.
// scripts/serve_web.py answers this file itself from API_PORT / API_BASE_URL,
// so this committed default only matters when the pages are served by another server.
export const API_BASE_URL = "http://127.0.0.1:8000";
