/* net/inet_sock.h's names: struct inet_sock's fields kept in its struct sock (inet_daddr is
 * sk.__sk_common.skc_daddr), struct inet_request_sock's (ir_*), and the casts between the
 * socket types that net/inet_sock.h, linux/tcp.h, linux/udp.h and
 * net/inet_connection_sock.h define. Only in the stubs of those headers, as in the kernel. */
#ifndef BPFLUA_KERNEL_INET_SOCK_H
#define BPFLUA_KERNEL_INET_SOCK_H

#include <bpflua/kernel/net_sock.h>

#define inet_daddr sk.__sk_common.skc_daddr
#define inet_rcv_saddr sk.__sk_common.skc_rcv_saddr
#define inet_dport sk.__sk_common.skc_dport
#define inet_num sk.__sk_common.skc_num

#define ir_loc_addr req.__req_common.skc_rcv_saddr
#define ir_rmt_addr req.__req_common.skc_daddr
#define ir_num req.__req_common.skc_num
#define ir_rmt_port req.__req_common.skc_dport
#define ir_v6_rmt_addr req.__req_common.skc_v6_daddr
#define ir_v6_loc_addr req.__req_common.skc_v6_rcv_saddr
#define ir_iif req.__req_common.skc_bound_dev_if
#define ir_cookie req.__req_common.skc_cookie
#define ireq_net req.__req_common.skc_net
#define ireq_state req.__req_common.skc_state
#define ireq_family req.__req_common.skc_family

/* The kernel's static inline casts; each is a pointer cast, no read. */
#define inet_sk(sk) ((struct inet_sock *)(sk))
#define inet_csk(sk) ((struct inet_connection_sock *)(sk))
#define tcp_sk(sk) ((struct tcp_sock *)(sk))
#define udp_sk(sk) ((struct udp_sock *)(sk))
#define inet_rsk(sk) ((struct inet_request_sock *)(sk))
#define tcp_rsk(req) ((struct tcp_request_sock *)(req))
#define inet_twsk(sk) ((struct inet_timewait_sock *)(sk))

#endif
