// Package provisioning holds the provisioning profiles of Valise — what a
// kit device must have once wiped and reinstalled — and renders them into
// enrolment bundles and unattended-install files.
//
// # Profiles
//
// A profile is a TOML file (profiles/*.toml are shipped and embedded; Load
// reads them, LoadDir reads a directory of custom ones). Parse refuses
// unknown keys, naming the file and line, and checks every field: class,
// os, installers, agent intervals, locale and time zone, Wi-Fi networks,
// packages (names that a package manager could read as options are
// refused), kiosk URLs (https only), files (clean absolute paths, octal
// modes). Secrets are never in a profile: a Wi-Fi key or admin password
// must be a variable. Variables, filled by Render from BundleInput:
//
//	${DEVICE_ID} ${ASSET_TAG} ${CLASS} ${SERVER_URL} ${WIFI_SSID} ${WIFI_KEY} ${ADMIN_PASSWORD}
//
// and "$${" stands for a literal "${" (in file contents: shell scripts).
//
// # Bundles
//
// Render(profile, BundleInput) gives one device's Bundle; the server puts
// its JSON in wire.ProvisionArgs.Bundle, and the agent applies it. Shape,
// with every key the agent may read (unknown keys are to be ignored):
//
//	{
//	  "profile": "laptop-linux", "class": "laptop", "os": "linux",
//	  "installers": ["debian-preseed", "ubuntu-autoinstall"],
//	  "device_id": "dev-…", "asset_tag": "VAL-0031",
//	  "agent_config": {"interval": "1m0s", "inventory_interval": "1h0m0s"},   // wire.AgentConfig
//	  "system": {"locale": "fr_FR.UTF-8", "timezone": "Europe/Paris", "keyboard": "fr",
//	             "hostname": "val-0031", "public_user": "usager",
//	             "reset_session_at_logout": true, "automatic_updates": true},
//	  "wifi": [{"ssid": "…", "security": "wpa2-psk", "key": "…", "hidden": false,
//	            "autoconnect": true, "priority": 10}],
//	  "packages": {"manager": "apt", "install": ["…"], "remove": ["…"]},
//	  "kiosk": {"browser": "chromium", "home": "https://www.service-public.fr/",
//	            "bookmarks": [{"title": "…", "url": "https://…"}],
//	            "private_browsing": true, "idle_reset": "15m0s"},
//	  "hotspot": {"ssid": "…", "security": "wpa2-psk", "key": "…", "admin_password": "…",
//	              "max_clients": 10, "delete_sms": true, "factory_reset": true, "data_roaming": false},
//	  "enroll": {"server": "https://…", "token": "…", "ca_pin": "sha256:…", "provision_job": "…"},
//	  "agent_download": {"url": "https://…", "sha256": "…"},
//	  "files": [{"path": "/etc/…", "mode": "0600", "content": "…"}]
//	}
//
// kiosk and hotspot appear only when the profile has them; agent_download
// only when BundleInput gave it. Files are the profile's, then those
// Render makes from the settings: on Linux a NetworkManager keyfile per
// Wi-Fi network (0600), the kiosk browser's managed policy (Chromium or
// Firefox ESR), the public-session reset script and its LightDM
// configuration, the unattended-upgrades switch; on OpenWrt a uci-defaults
// script (0700) setting the Wi-Fi and root password at first boot. A
// bundle holds secrets: keep it 0600 and out of logs.
//
// # Unattended installers
//
// DebianPreseed, UbuntuAutoinstall and WindowsUnattend render a bundle for
// the installers its profile lists. Each installs the agent from
// BundleInput.AgentURL after checking AgentSHA256, writes the bundle's
// files, enrols with the bundle's single-use token (and CA pin) and starts
// the agent at boot. Every value is quoted for where it goes: POSIX shell
// words (single quotes), YAML double-quoted scalars, XML text, PowerShell
// -EncodedCommand, Windows argv quoting.
package provisioning
