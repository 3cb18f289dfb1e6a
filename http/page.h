/*  Server-rendered pages: an embedded HTML template (http/assets/) with
    {{name}} placeholders replaced by HTML-escaped values. Placeholders
    without a value become empty. Pages carry no inline script (CSP):
    behaviour lives in the static scripts. */
#ifndef LL_HTTP_PAGE_H
#define LL_HTTP_PAGE_H

#include <stddef.h>

#include "http/server.h"

//  Render template with vars = {"name", "value", ..., NULL} into a new
//  string (caller frees). NULL when the template does not exist.
char *ll_page_render (const char *template_name, const char *const *vars);

//  Render and send as text/html with status.
int ll_http_page (ll_http_req_t *req,
                  int status,
                  const char *template_name,
                  const char *const *vars);

//  Append text to out (size bytes, always terminated) HTML-escaped;
//  returns the length written.
size_t ll_html_escape (const char *text, char *out, size_t size);

#endif
