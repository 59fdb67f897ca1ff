// Sends the token in a portal link's fragment to the portal, which
// opens a session, and takes it out of the address bar and history.
(function () {
  "use strict";
  var found = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!found) {
    return;
  }
  window.history.replaceState(null, "", window.location.pathname);
  document.getElementById("link-token").value = decodeURIComponent(found[1]);
  document.getElementById("link-form").submit();
})();
