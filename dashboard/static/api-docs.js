// Swagger UI for /api/docs from our own files: no CDN, no inline script (the CSP allows neither),
// and no badge from the public validator (another site, and it would be sent our schema).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.getAttribute("data-schema"),
    domNode: root,
    validatorUrl: null,
    deepLinking: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
})();
