/* The scoreboard on its own: slots claimed and released, shared with a
 * forked child, the watchdog's question answered from a signal handler,
 * the heartbeat period, and the status bodies rendered from the slots. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/scoreboard.h"
#include "server/status.h"

static srv_slot *slots;

static void setup(void)
{
    slots = srv_scoreboard_new();
    cr_assert(slots);
}

static void teardown(void)
{
    srv_scoreboard_free(slots);
}

TestSuite(scoreboard, .init = setup, .fini = teardown, .timeout = 10);

Test(scoreboard, slots_are_claimed_once_and_reset)
{
    srv_slot *a = srv_slot_claim(slots, 1), *b = srv_slot_claim(slots, 2);
    cr_assert(a && b && a != b);
    cr_assert_eq(a->state, SRV_SLOT_STARTING);
    cr_assert_eq(b->generation, 2);
    a->requests = 5;
    srv_slot_release(a);
    srv_slot *c = srv_slot_claim(slots, 3);
    cr_assert_eq(c, a, "the free slot is reused");
    cr_assert_eq(c->requests, 0, "and starts from zero");
    for (size_t i = 2; i < SRV_SLOTS; i++)
        cr_assert(srv_slot_claim(slots, 1));
    cr_assert_null(srv_slot_claim(slots, 1), "all taken");
}

Test(scoreboard, a_child_writes_what_the_parent_reads)
{
    srv_slot *s = srv_slot_claim(slots, 1);
    pid_t pid = fork();
    if (pid == 0) {
        atomic_store(&s->requests, 42);
        atomic_store(&s->state, SRV_SLOT_READY);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    cr_assert_eq(atomic_load(&s->requests), 42);
    cr_assert_eq(atomic_load(&s->state), SRV_SLOT_READY);
}

Test(scoreboard, the_watchdog_question_is_answered_from_a_signal_handler)
{
    srv_slot *s = srv_slot_claim(slots, 1);
    s->pid = getpid();
    cr_assert_eq(srv_slot_answer_watchdog(s), 0);
    cr_assert(srv_slot_answered(s), "nothing asked yet");
    srv_slot_ask(s); /* this thread is the process's first: it runs the handler */
    cr_assert(srv_slot_answered(s));
    cr_assert_str_eq(s->report, "no request (outside any handler)");
    signal(SIGUSR2, SIG_DFL);
}

Test(scoreboard, heartbeat_period)
{
    cr_assert_eq(srv_heartbeat_ms(30000), 500, "at most 500 ms");
    cr_assert_eq(srv_heartbeat_ms(1000), 250, "a quarter of the timeout");
    cr_assert_eq(srv_heartbeat_ms(20), 10, "at least 10 ms");
    cr_assert_eq(srv_heartbeat_ms(-1), 500, "no watchdog: for the status");
}

Test(scoreboard, status_bodies_list_every_worker)
{
    srv_slot *a = srv_slot_claim(slots, 3), *b = srv_slot_claim(slots, 4);
    a->pid = 1001, b->pid = 1002;
    atomic_store(&a->state, SRV_SLOT_READY);
    atomic_store(&b->state, SRV_SLOT_STOPPING);
    atomic_store(&a->requests, 7);
    atomic_store(&b->waiting, 3);
    atomic_store(&a->rss_bytes, 1 << 20);
    srv_slot *unforked = srv_slot_claim(slots, 4); /* pid not yet set: not listed */
    (void)unforked;
    srv_status_info info = {.pid = 1000,
                            .generation = 4,
                            .workers = 2,
                            .started_ms = srv_clock_ms() - 1500,
                            .slots = slots};
    size_t len;
    char *json = srv_status_json(&info, &len);
    cr_assert(json);
    cr_assert_eq(strlen(json), len);
    cr_assert(strstr(json, "{\"pid\":1000,\"generation\":4,\"uptime\":1.5,\"workers_wanted\":2,"),
              "%s", json);
    cr_assert(strstr(json, "{\"pid\":1001,\"generation\":3,\"state\":\"ready\","), "%s", json);
    cr_assert(strstr(json, "\"requests\":7,"), "%s", json);
    cr_assert(strstr(json, "\"rss_bytes\":1048576,"), "%s", json);
    cr_assert(strstr(json, "{\"pid\":1002,\"generation\":4,\"state\":\"stopping\","), "%s", json);
    cr_assert(strstr(json, "\"waiting\":3,"), "%s", json);
    cr_assert_null(strstr(json, "\"pid\":0"), "%s", json);
    free(json);
    char *m = srv_status_metrics(&info, &len);
    cr_assert(m);
    cr_assert(strstr(m, "greenserve_workers 2\n"), "%s", m);
    cr_assert(strstr(m, "greenserve_worker_requests_total{pid=\"1001\",generation=\"3\","
                        "state=\"ready\"} 7\n"),
              "%s", m);
    cr_assert(strstr(m, "greenserve_worker_waiting{pid=\"1002\",generation=\"4\","
                        "state=\"stopping\"} 3\n"),
              "%s", m);
    cr_assert(strstr(m, "greenserve_worker_rss_bytes{pid=\"1001\",generation=\"3\","
                        "state=\"ready\"} 1048576\n"),
              "%s", m);
    free(m);
}
