#!/bin/sh
# wipe the loopback host's Kamal state and the fake docker state
W=/tmp/hookshim-realkamal
rm -rf "$W/host-home/.kamal" "$W/host-docker-state" "$W/local-docker-state"
