-- Wireshark's ENRP dissector is registered for SCTP and UDP only (tshark 4.0 rejects
-- `-d tcp.port==9901,enrp`): hand TCP port 9901 to it too, one message per segment,
-- as Wireshark does for ASAP over TCP port 3863. Use: tshark -X lua_script:THIS_FILE
local enrp = DissectorTable.get("sctp.ppi"):get_dissector(12)
DissectorTable.get("tcp.port"):add(9901, enrp)
