import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./config.ts";

describe("parseConfig", () => {
  it.each([
    {
      name: "should serve metrics on loopback unless told otherwise",
      argv: [],
      env: {},
      want: { metricsHost: "127.0.0.1" },
    },
    {
      name: "should take the metrics address from the environment, as the chart passes the pod IP",
      argv: [],
      env: { SIGNET_METRICS_HOST: "10.244.1.7" },
      want: { metricsHost: "10.244.1.7" },
    },
    {
      name: "should prefer the flag to the environment",
      argv: ["--metrics-host=0.0.0.0"],
      env: { SIGNET_METRICS_HOST: "10.244.1.7" },
      want: { metricsHost: "0.0.0.0" },
    },
    {
      name: "should own nothing by a Deployment unless one is named",
      argv: [],
      env: {},
      want: { ownerDeployment: undefined },
    },
    {
      name: "should take the owner Deployment from the environment, as the chart sets it",
      argv: [],
      env: { SIGNET_OWNER_DEPLOYMENT: "signet" },
      want: { ownerDeployment: "signet" },
    },
    {
      name: "should serve JWT-SVIDs on 8444 as the issuer of the signet-jwt Service, rotating daily, 15 min ahead",
      argv: ["--namespace=idp"],
      env: {},
      want: {
        jwtPort: 8444,
        jwtIssuer: "https://signet-jwt.idp.svc:8444",
        jwtSigningSecretName: "signet-jwt-signing",
        jwtTlsSecretName: "signet-jwt-tls",
        jwtDnsNames: ["signet-jwt.idp.svc", "signet-jwt.idp.svc.cluster.local"],
        jwtIpAddresses: [],
        jwtKeyRotationMs: 86_400_000,
        jwtPublishAheadMs: 900_000,
      },
    },
    {
      name: "should take the JWT issuer, port, names and schedule given",
      argv: [
        "--jwt-port=9000",
        "--jwt-issuer=https://idp.example.com/signet",
        "--jwt-ip-addresses=127.0.0.1",
        "--jwt-key-rotation=1m",
        "--jwt-publish-ahead=10s",
      ],
      env: {},
      want: {
        jwtPort: 9000,
        jwtIssuer: "https://idp.example.com/signet",
        jwtIpAddresses: ["127.0.0.1"],
        jwtKeyRotationMs: 60_000,
        jwtPublishAheadMs: 10_000,
      },
    },
    {
      name: "should keep no ValidatingWebhookConfiguration current unless one is named",
      argv: [],
      env: {},
      want: { validatingWebhookConfigurationName: undefined, webhookIpAddresses: [] },
    },
    {
      name: "should name the ValidatingWebhookConfiguration and the webhook's IP SANs",
      argv: ["--validating-webhook-configuration=signet-validate", "--webhook-ip-addresses=127.0.0.1, ::1"],
      env: {},
      want: {
        validatingWebhookConfigurationName: "signet-validate",
        webhookIpAddresses: ["127.0.0.1", "::1"],
      },
    },
    {
      name: "should read the ValidatingWebhookConfiguration from the environment",
      argv: [],
      env: { SIGNET_VALIDATING_WEBHOOK_CONFIGURATION: "signet-validate" },
      want: { validatingWebhookConfigurationName: "signet-validate" },
    },
    {
      name: "should spread a move to a new issuer over 10 minutes at 20 re-keys per second unless told otherwise",
      argv: [],
      env: {},
      want: { issuerSpreadMs: 600_000, rekeysPerSecond: 20 },
    },
    {
      name: "should take the issuer spread and re-key limit from flags",
      argv: ["--issuer-spread=20s", "--rekeys-per-second=2.5"],
      env: {},
      want: { issuerSpreadMs: 20_000, rekeysPerSecond: 2.5 },
    },
    {
      name: "should run no proxy sidecar unless given its image",
      argv: [],
      env: {},
      want: { proxyImage: undefined },
    },
    {
      name: "should take the proxy image from the environment, as the chart sets it",
      argv: [],
      env: { SIGNET_PROXY_IMAGE: "registry.example/signet:0.1.0" },
      want: { proxyImage: "registry.example/signet:0.1.0" },
    },
    {
      name: "should prefer the proxy image flag to the environment",
      argv: ["--proxy-image=signet:dev"],
      env: { SIGNET_PROXY_IMAGE: "registry.example/signet:0.1.0" },
      want: { proxyImage: "signet:dev" },
    },
    {
      name: "should take the trust bundle source from discovery unless told otherwise",
      argv: [],
      env: {},
      want: { trustBundle: "auto" },
    },
    {
      name: "should take the trust bundle source from the environment, as the chart sets it",
      argv: [],
      env: { SIGNET_TRUST_BUNDLE: "ConfigMap" },
      want: { trustBundle: "ConfigMap" },
    },
    {
      name: "should take the trust bundle source from the flag",
      argv: ["--trust-bundle=ClusterTrustBundle"],
      env: { SIGNET_TRUST_BUNDLE: "ConfigMap" },
      want: { trustBundle: "ClusterTrustBundle" },
    },
  ])("$name", ({ argv, env, want }) => {
    expect(parseConfig(argv, env)).toMatchObject(want);
  });

  it.each([
    {
      name: "should refuse a metrics host that is not an address",
      argv: ["--metrics-host=metrics.example"],
      error: /--metrics-host: "metrics.example" is not an IP address; use 127.0.0.1, the pod IP, or 0.0.0.0/,
    },
    {
      name: "should refuse an issuer that is not https",
      argv: ["--jwt-issuer=http://signet.example.com"],
      error: /--jwt-issuer: "http:\/\/signet.example.com" must be an https URL/,
    },
    {
      name: "should refuse an issuer with a trailing slash",
      argv: ["--jwt-issuer=https://signet.example.com/"],
      error: /--jwt-issuer: .* trailing "\/"/,
    },
    {
      name: "should refuse a next key published no earlier than the rotation",
      argv: ["--jwt-key-rotation=10m", "--jwt-publish-ahead=15m"],
      error: /--jwt-publish-ahead must be positive and shorter than --jwt-key-rotation/,
    },
    {
      name: "should refuse a JWT endpoint IP SAN that is a name",
      argv: ["--jwt-ip-addresses=localhost"],
      error: /--jwt-ip-addresses: "localhost" is not an IP address/,
    },
    {
      name: "should refuse a webhook IP SAN that is not an address",
      argv: ["--webhook-ip-addresses=127.0.0.1,localhost"],
      error: /--webhook-ip-addresses: "localhost" is not an IP address/,
    },
    {
      name: "should refuse a re-key limit that is not positive",
      argv: ["--rekeys-per-second=0"],
      error: /--rekeys-per-second must be a positive number/,
    },
    {
      name: "should refuse a trust bundle source it does not know, naming those it does",
      argv: ["--trust-bundle=configmap"],
      error: /--trust-bundle: "configmap" is not one of auto, ClusterTrustBundle, ConfigMap/,
    },
  ])("$name", ({ argv, error }) => {
    expect(() => parseConfig(argv, {})).toThrow(ConfigError);
    expect(() => parseConfig(argv, {})).toThrow(error);
  });
});
