// The single entry to @peculiar/x509 for this module: its dependency injection container needs
// the Reflect metadata polyfill to be installed before the library's own code is evaluated.
import "reflect-metadata";

export * from "@peculiar/x509";
