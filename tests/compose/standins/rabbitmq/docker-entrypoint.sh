#!/bin/sh
# The official image's environment contract, on Debian's rabbitmq-server: write the first
# user and vhost from RABBITMQ_DEFAULT_* into rabbitmq.conf, then run as user rabbitmq.
# The server script is RabbitMQ's own, exec'd as PID 1 as in the official image: it turns
# SIGTERM into a clean stop and exit 0. (Debian's /usr/sbin wrapper runs it as a child and
# so would let SIGTERM go unhandled by PID 1.)
set -eu
if [ "${1:-}" = "rabbitmq-server" ]; then
    umask 077
    {
        echo "default_user = ${RABBITMQ_DEFAULT_USER:-guest}"
        echo "default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}"
        echo "default_vhost = ${RABBITMQ_DEFAULT_VHOST:-/}"
    } > /etc/rabbitmq/rabbitmq.conf
    chown rabbitmq:rabbitmq /etc/rabbitmq/rabbitmq.conf
    chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
    shift
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \
        /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
fi
exec "$@"
