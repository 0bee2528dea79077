/* The feature keys the terminals set on the requests they carry: which
 * connection a call used (irpc/connection_info.h) and, from a connection
 * cache, the server addresses still to try (irpc/server_addresses.h). The
 * interceptors and middleware read them. */
#include "irpc/connection_info.h"
#include "irpc/server_addresses.h"

const irpc_feature_key irpc_connection_info_feature = {
    .name = "connection_info", .destroy = NULL};

const irpc_feature_key irpc_server_addresses_feature = {
    .name = "server_addresses", .destroy = NULL};

const irpc_connection_info *
irpc_outgoing_request_connection_info(irpc_outgoing_request *r) {
  return irpc_features_get(irpc_outgoing_request_features(r),
                           &irpc_connection_info_feature);
}

const irpc_connection_info *
irpc_incoming_request_connection_info(irpc_incoming_request *r) {
  return irpc_features_get(irpc_incoming_request_features(r),
                           &irpc_connection_info_feature);
}
