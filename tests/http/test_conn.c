/* http/conn: keep-alive, pipelining, byte-by-byte heads, bodies,
 * 100-continue, drains, HEAD, streaming, timeouts. */
#include "http/harness.h"

Test(conn, hello_keepalive_11, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    for (int i = 0; i < 3; i++) {
        hc_send(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        const char *resp = hc_recv(c, false);
        cr_assert_eq(hs_status(resp), 200);
        cr_assert_str_eq(hs_body(resp), "hello\n");
        cr_assert_str_eq(hs_header(resp, "Server"), "greenserve");
        cr_assert_not_null(hs_header(resp, "Date"));
        cr_assert_null(hs_header(resp, "Connection"));
    }
    hc_close(c);
    cr_assert(hs_wait_done(&s, 1, 1000));
    hs_stop(&s);
}
