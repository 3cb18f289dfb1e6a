/*  Server-rendered pages: an embedded HTML template (http/assets/) with
    {{name}} placeholders replaced by HTML-escaped values. Placeholders
    without a value become empty; {{&name}} is put in as is (only for HTML
    this module builds: the admin layout's navigation and page body).
    {{>file.html}} on a line of its own puts in another template (markup
    pages share) rendered with the same values. Pages carry no inline
    script (CSP): behaviour lives in the static scripts. */
#ifndef LL_HTTP_PAGE_H
#define LL_HTTP_PAGE_H

#include <stdbool.h>
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

//  The same with extra_headers ("Name: value\r\n" lines, or NULL).
int ll_http_page_with (ll_http_req_t *req,
                       int status,
                       const char *template_name,
                       const char *const *vars,
                       const char *extra_headers);

//  An admin console page: its content template inside the one layout
//  (http/assets/admin-layout.html: head, navigation with aria-current,
//  theme switch, logout), so no page copies the frame.
typedef struct {
    const char *template_name;  //  the content of <main>
    const char *title;          //  the document title (escaped)
    const char *nav;            //  current navigation entry: "dashboard",
                                //  "instances", "create", "schedule",
                                //  "delete", "audit" or NULL
    const char *script;  //  its scripts in /static/ (blank-separated) or NULL
    bool wide;           //  the wide main column
} ll_admin_page_t;

//  Render and send an admin page; every template also gets {{user}} and
//  {{csrf}}, then the extra {"name", "value", ..., NULL}.
int ll_http_admin_page (ll_http_req_t *req,
                        int status,
                        const ll_admin_page_t *page,
                        const char *const *extra);

//  Append text to out (size bytes, always terminated) HTML-escaped;
//  returns the length written.
size_t ll_html_escape (const char *text, char *out, size_t size);

#endif
