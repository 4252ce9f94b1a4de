// Starts Swagger UI on /docs. A file of its own rather than an inline script, so that the page's
// Content-Security-Policy allows no inline script at all. The page names the schema's URL (data-openapi-url).
"use strict";

window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.openapiUrl,
  // FastAPI's defaults for its own docs page.
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
