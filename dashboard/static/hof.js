// GOV.UK Frontend's components (skip link, navigation toggle, buttons, error summary...).
import { initAll } from "/static/build/govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();
