"""The emulated org's objects and fields, and the describe bodies built from them.

Each field is a ``Field``; flags follow Salesforce's describe (createable, updateable, nillable...). Fields that
the server maintains (audit fields, ``Name`` on people, ``IsClosed`` on tasks...) are neither createable nor
updateable. ``required`` means "must be given on create" (Salesforce's not-nillable, not-defaulted fields).
"""

from dataclasses import dataclass, field

from sandbox.salesforce.ids import KEY_PREFIXES

SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "date": "xsd:date",
    "datetime": "xsd:dateTime", "int": "xsd:int", "double": "xsd:double", "currency": "xsd:double",
}
TEXT_TYPES = {"string", "textarea", "picklist", "multipicklist", "email", "phone", "url", "combobox"}


@dataclass
class Field:
    name: str
    type: str
    label: str
    length: int = 0
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    required: bool = False
    picklist: tuple = ()
    restricted: bool = False
    default: object = None
    reference_to: tuple = ()
    relationship_name: str | None = None
    name_field: bool = False
    custom: bool = False
    polymorphic: bool = False  # What: in a real org it points at many objects; the Name pseudo-object applies

    def describe(self) -> dict:
        byte_length = self.length * 3 if self.type in TEXT_TYPES else self.length
        return {
            "aggregatable": self.type not in ("textarea", "multipicklist"),
            "autoNumber": False,
            "byteLength": byte_length,
            "calculated": False,
            "calculatedFormula": None,
            "caseSensitive": False,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": None if self.default is None else {"value": self.default},
            "defaultValueFormula": None,
            "defaultedOnCreate": self.default is not None or not self.createable,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": 9 if self.type == "int" else 0,
            "externalId": False,
            "filterable": self.type not in ("textarea",),
            "groupable": self.type not in ("textarea", "multipicklist", "datetime", "double", "currency"),
            "htmlFormatted": False,
            "idLookup": self.type == "id" or self.name in ("Email", "Username"),
            "inlineHelpText": None,
            "label": self.label,
            "length": self.length if self.type in TEXT_TYPES else 0,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": self.name in ("OwnerId", "WhoId", "WhatId"),
            "nillable": self.nillable,
            "picklistValues": [
                {"active": True, "defaultValue": value == self.default, "label": value, "validFor": None,
                 "value": value}
                for value in self.picklist
            ],
            "polymorphicForeignKey": self.polymorphic or len(self.reference_to) > 1,
            "precision": 18 if self.type in ("double", "currency") else 0,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedPicklist": self.restricted,
            "scale": 2 if self.type in ("double", "currency") else 0,
            "soapType": SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.type not in ("textarea", "multipicklist"),
            "type": self.type,
            "unique": self.name == "Username",
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


@dataclass
class SObject:
    name: str
    label: str
    label_plural: str
    fields: dict[str, Field] = field(default_factory=dict)
    createable: bool = True
    ownable: bool = True

    def field(self, name: str) -> Field | None:
        return self._lower.get(name.lower())

    def finish(self):
        self._lower = {name.lower(): f for name, f in self.fields.items()}
        self.relationships = {
            f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name
        }
        return self


def _system(sobject_fields: list[Field], ownable: bool) -> list[Field]:
    ro = {"createable": False, "updateable": False}
    fields = [Field("Id", "id", "Record ID", 18, nillable=False, **ro)]
    fields += sobject_fields
    if ownable:
        fields.append(Field("OwnerId", "reference", "Owner ID", 18, nillable=False, reference_to=("User",),
                            relationship_name="Owner"))
    fields += [
        Field("IsDeleted", "boolean", "Deleted", nillable=False, **ro),
        Field("CreatedDate", "datetime", "Created Date", nillable=False, **ro),
        Field("CreatedById", "reference", "Created By ID", 18, nillable=False, reference_to=("User",),
              relationship_name="CreatedBy", **ro),
        Field("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, **ro),
        Field("LastModifiedById", "reference", "Last Modified By ID", 18, nillable=False,
              reference_to=("User",), relationship_name="LastModifiedBy", **ro),
        Field("SystemModstamp", "datetime", "System Modstamp", nillable=False, **ro),
    ]
    return fields


def S(name, label, length=255, **kw):
    return Field(name, kw.pop("type", "string"), label, length, **kw)


def P(name, label, values, restricted=False, default=None, type="picklist", length=255):
    return Field(name, type, label, length, picklist=tuple(values), restricted=restricted, default=default)


def R(name, label, to, rel, **kw):
    return Field(name, "reference", label, 18, reference_to=tuple(to), relationship_name=rel, **kw)


def B(name, label, default=False, **kw):
    return Field(name, "boolean", label, 0, nillable=False, default=default, **kw)


def _address(prefix: str, label: str) -> list[Field]:
    return [
        S(f"{prefix}Street", f"{label} Street", type="textarea"),
        S(f"{prefix}City", f"{label} City", 40),
        S(f"{prefix}State", f"{label} State/Province", 80),
        S(f"{prefix}PostalCode", f"{label} Zip/Postal Code", 20),
        S(f"{prefix}Country", f"{label} Country", 80),
    ]


def _name_fields() -> list[Field]:
    return [
        S("LastName", "Last Name", 80, nillable=False, required=True),
        S("FirstName", "First Name", 40),
        P("Salutation", "Salutation", ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]),
        S("Name", "Full Name", 121, createable=False, updateable=False, nillable=False, name_field=True),
    ]


RO = {"createable": False, "updateable": False}
INDUSTRIES = ["Agriculture", "Banking", "Chemicals", "Communications", "Consulting", "Education", "Energy",
              "Engineering", "Finance", "Healthcare", "Hospitality", "Insurance", "Manufacturing", "Media",
              "Retail", "Technology", "Transportation", "Utilities", "Other"]
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
TASK_STATUSES = ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"]
CLOSED_TASK_STATUSES = {"Completed"}
RECURRENCE_TYPES = ["RecursDaily", "RecursEveryWeekday", "RecursMonthly", "RecursMonthlyNth", "RecursWeekly",
                    "RecursYearly", "RecursYearlyNth"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
# A part of Salesforce's TimeZoneSidKey picklist (IANA names; "GMT" is the org default of a new sandbox).
TIME_ZONES = ["GMT", "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Stockholm", "America/New_York",
              "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata",
              "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland", "Pacific/Honolulu"]


def _objects() -> dict[str, SObject]:
    objects = [
        SObject("Organization", "Organization", "Organizations", createable=False, ownable=False, fields=_system([
            S("Name", "Name", 80, nillable=False, name_field=True, **RO),
            B("IsSandbox", "Is Sandbox", **RO),
            S("OrganizationType", "Edition", 40, **RO),
            S("InstanceName", "Instance Name", 5, **RO),
            P("TimeZoneSidKey", "Default Time Zone", TIME_ZONES, restricted=True, default="GMT"),
            P("LanguageLocaleKey", "Language", ["en_US", "fr", "de", "sv"], restricted=True, default="en_US"),
            P("DefaultLocaleSidKey", "Locale", ["en_US", "en_GB", "fr_FR", "de_DE", "sv_SE"], restricted=True,
              default="en_US"),
        ], ownable=False)),
        SObject("Profile", "Profile", "Profile", createable=False, ownable=False, fields=_system([
            S("Name", "Name", 255, nillable=False, name_field=True, **RO),
            P("UserType", "User Type", ["Standard", "PowerPartner", "CsnOnly", "Guest"]),
            S("Description", "Description", 255, **RO),
        ], ownable=False)),
        SObject("User", "User", "Users", createable=False, ownable=False, fields=_system([
            S("Username", "Username", 80, nillable=False, **RO),
            S("LastName", "Last Name", 80, nillable=False),
            S("FirstName", "First Name", 40),
            S("Name", "Full Name", 121, nillable=False, name_field=True, **RO),
            S("Alias", "Alias", 8, nillable=False),
            S("Email", "Email", 128, type="email", nillable=False),
            S("Title", "Title", 80), S("Department", "Department", 80), S("CompanyName", "Company Name", 80),
            S("Phone", "Phone", 40, type="phone"), S("MobilePhone", "Mobile", 40, type="phone"),
            B("IsActive", "Active", default=True),
            R("ProfileId", "Profile ID", ["Profile"], "Profile", nillable=False),
            P("UserType", "User Type", ["Standard", "PowerPartner", "CsnOnly", "Guest"], default="Standard"),
            P("TimeZoneSidKey", "Time Zone", TIME_ZONES, restricted=True, default="GMT"),
            P("LocaleSidKey", "Locale", ["en_US", "en_GB", "fr_FR", "de_DE", "sv_SE"], restricted=True,
              default="en_US"),
            P("LanguageLocaleKey", "Language", ["en_US", "fr", "de", "sv"], restricted=True, default="en_US"),
            P("EmailEncodingKey", "Email Encoding", ["UTF-8", "ISO-8859-1"], restricted=True, default="UTF-8"),
        ], ownable=False)),
        SObject("Account", "Account", "Accounts", fields=_system([
            S("Name", "Account Name", 255, nillable=False, required=True, name_field=True),
            P("Type", "Account Type", ["Prospect", "Customer - Direct", "Customer - Channel",
                                       "Channel Partner / Reseller", "Installation Partner", "Technology Partner",
                                       "Other"]),
            R("ParentId", "Parent Account ID", ["Account"], "Parent"),
            *_address("Billing", "Billing"), *_address("Shipping", "Shipping"),
            S("Phone", "Account Phone", 40, type="phone"), S("Fax", "Account Fax", 40, type="phone"),
            S("Website", "Website", 255, type="url"),
            P("Industry", "Industry", INDUSTRIES),
            Field("AnnualRevenue", "currency", "Annual Revenue", 0),
            Field("NumberOfEmployees", "int", "Employees", 0),
            S("Description", "Account Description", 32000, type="textarea"),
        ], ownable=True)),
        SObject("Contact", "Contact", "Contacts", fields=_system([
            R("AccountId", "Account ID", ["Account"], "Account"),
            *_name_fields(),
            *_address("Other", "Other"), *_address("Mailing", "Mailing"),
            S("Phone", "Business Phone", 40, type="phone"), S("Fax", "Business Fax", 40, type="phone"),
            S("MobilePhone", "Mobile Phone", 40, type="phone"), S("HomePhone", "Home Phone", 40, type="phone"),
            S("OtherPhone", "Other Phone", 40, type="phone"),
            S("AssistantPhone", "Asst. Phone", 40, type="phone"),
            R("ReportsToId", "Reports To ID", ["Contact"], "ReportsTo"),
            S("Email", "Email", 80, type="email"),
            S("Title", "Title", 128), S("Department", "Department", 80),
            S("AssistantName", "Assistant's Name", 40),
            P("LeadSource", "Lead Source", LEAD_SOURCES),
            Field("Birthdate", "date", "Birthdate"),
            S("Description", "Contact Description", 32000, type="textarea"),
            B("HasOptedOutOfEmail", "Email Opt Out"),
            B("DoNotCall", "Do Not Call"),
            Field("Interests__c", "multipicklist", "Interests", 4099, custom=True,
                  picklist=("Golf", "Tennis", "Sailing", "Wine", "Cycling", "Opera"), restricted=True),
        ], ownable=True)),
        SObject("Lead", "Lead", "Leads", fields=_system([
            *_name_fields(),
            S("Title", "Title", 128),
            S("Company", "Company", 255, nillable=False, required=True),
            S("Street", "Street", 255, type="textarea"), S("City", "City", 40), S("State", "State/Province", 80),
            S("PostalCode", "Zip/Postal Code", 20), S("Country", "Country", 80),
            S("Phone", "Phone", 40, type="phone"), S("MobilePhone", "Mobile Phone", 40, type="phone"),
            S("Email", "Email", 80, type="email"), S("Website", "Website", 255, type="url"),
            S("Description", "Description", 32000, type="textarea"),
            P("LeadSource", "Lead Source", LEAD_SOURCES),
            P("Status", "Status", ["Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                                   "Closed - Not Converted"], restricted=True, default="Open - Not Contacted"),
            P("Industry", "Industry", INDUSTRIES),
            P("Rating", "Rating", ["Hot", "Warm", "Cold"]),
            B("IsConverted", "Converted", **RO),
        ], ownable=True)),
        SObject("Event", "Event", "Events", fields=_system([
            R("WhoId", "Name ID", ["Contact", "Lead"], "Who"),
            R("WhatId", "Related To ID", ["Account"], "What", polymorphic=True),
            P("Subject", "Subject", ["Call", "Email", "Meeting", "Send Letter/Quote", "Other"], type="combobox"),
            S("Location", "Location", 255),
            B("IsAllDayEvent", "All-Day Event"),
            Field("ActivityDateTime", "datetime", "Due Date Time"),
            Field("ActivityDate", "date", "Due Date Only"),
            Field("DurationInMinutes", "int", "Duration"),
            Field("StartDateTime", "datetime", "Start Date Time"),
            Field("EndDateTime", "datetime", "End Date Time"),
            Field("EndDate", "date", "End Date", **RO),
            S("Description", "Description", 32000, type="textarea"),
            R("AccountId", "Account ID", ["Account"], "Account", **RO),
            B("IsPrivate", "Private"),
            P("ShowAs", "Show Time As", ["Busy", "OutOfOffice", "Free", "WorkingElsewhere"], restricted=True,
              default="Busy"),
            B("IsChild", "Is Child", **RO),
            B("IsGroupEvent", "Is Group Event", **RO),
            B("IsArchived", "Archived", **RO),
            R("RecurrenceActivityId", "Recurrence Activity ID", ["Event"], None, **RO),
            B("IsRecurrence", "Create Recurring Series of Events", updateable=False),
            Field("RecurrenceStartDateTime", "datetime", "Recurrence Begins"),
            Field("RecurrenceEndDateOnly", "date", "Recurrence Ends"),
            P("RecurrenceTimeZoneSidKey", "Recurrence Time Zone", TIME_ZONES, restricted=True),
            P("RecurrenceType", "Recurrence Pattern", RECURRENCE_TYPES, restricted=True),
            Field("RecurrenceInterval", "int", "Recurrence Interval"),
            Field("RecurrenceDayOfWeekMask", "int", "Recurrence Day of Week Mask"),
            Field("RecurrenceDayOfMonth", "int", "Recurrence Day of Month"),
            P("RecurrenceInstance", "Recurrence Instance", ["First", "Second", "Third", "Fourth", "Last"],
              restricted=True),
            P("RecurrenceMonthOfYear", "Recurrence Month of Year", MONTHS, restricted=True),
            Field("ReminderDateTime", "datetime", "Reminder Date/Time"),
            B("IsReminderSet", "Reminder Set"),
        ], ownable=True)),
        SObject("EventRelation", "Event Relation", "Event Relations", ownable=False, fields=_system([
            R("RelationId", "Relation ID", ["Contact", "Lead", "User"], "Relation", nillable=False,
              required=True, updateable=False),
            R("EventId", "Event ID", ["Event"], "Event", nillable=False, required=True, updateable=False),
            P("Status", "Status", ["New", "Declined", "Accepted"], restricted=True, default="New"),
            Field("RespondedDate", "datetime", "Response Date"),
            S("Response", "Response", 255),
            B("IsInvitee", "Invitee", default=True),
            B("IsParent", "Parent"),
            B("IsWhat", "Is What", updateable=False),
        ], ownable=False)),
        SObject("Task", "Task", "Tasks", fields=_system([
            R("WhoId", "Name ID", ["Contact", "Lead"], "Who"),
            R("WhatId", "Related To ID", ["Account"], "What", polymorphic=True),
            P("Subject", "Subject", ["Call", "Send Letter", "Send Quote", "Other"], type="combobox"),
            Field("ActivityDate", "date", "Due Date Only"),
            P("Status", "Status", TASK_STATUSES, restricted=True, default="Not Started"),
            P("Priority", "Priority", ["High", "Normal", "Low"], restricted=True, default="Normal"),
            B("IsHighPriority", "High Priority", **RO),
            S("Description", "Description", 32000, type="textarea"),
            R("AccountId", "Account ID", ["Account"], "Account", **RO),
            B("IsClosed", "Closed", **RO),
            Field("CompletedDateTime", "datetime", "Completed Date/Time", **RO),
            P("TaskSubtype", "Task Subtype", ["Task", "Email", "Call"], restricted=True, default="Task"),
            Field("ReminderDateTime", "datetime", "Reminder Date/Time"),
            B("IsReminderSet", "Reminder Set"),
        ], ownable=True)),
    ]
    result = {}
    for sobject in objects:
        sobject.fields = {f.name: f for f in sobject.fields}
        result[sobject.name] = sobject.finish()
    return result


OBJECTS: dict[str, SObject] = _objects()
_LOWER = {name.lower(): obj for name, obj in OBJECTS.items()}
# Polymorphic relationships (Who, What, Owner...) resolve to the "Name" pseudo-object: these fields only.
POLYMORPHIC_FIELDS = {"id": "Id", "name": "Name", "type": "Type", "firstname": "FirstName",
                      "lastname": "LastName", "email": "Email", "phone": "Phone", "title": "Title"}


def sobject(name: str) -> SObject | None:
    return _LOWER.get(name.lower()) if isinstance(name, str) else None


def describe(obj: SObject, version: str, permissions: dict) -> dict:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        **global_entry(obj, version, permissions),
        "childRelationships": [
            {"cascadeDelete": child.name != "Task", "childSObject": child.name, "deprecatedAndHidden": False,
             "field": f.name, "relationshipName": _child_relationship(child.name, f.name)}
            for child in OBJECTS.values() for f in child.fields.values()
            if obj.name in f.reference_to and f.relationship_name
        ],
        "fields": [f.describe() for f in obj.fields.values()],
        "recordTypeInfos": [],
        "supportedScopes": [{"label": "Mine", "name": "mine"}, {"label": "Everything", "name": "everything"}],
        "urls": {**global_entry(obj, version, permissions)["urls"], "describe": f"{base}/describe"},
    }


def _child_relationship(child: str, field_name: str) -> str:
    plural = {"Activity": "Activities"}.get(child, child + "s")
    return plural if field_name in ("AccountId", "WhoId", "WhatId", "OwnerId") else f"{child}s__{field_name}"


def global_entry(obj: SObject, version: str, permissions: dict) -> dict:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "activateable": False,
        "createable": obj.createable and permissions.get("create", False),
        "custom": False,
        "customSetting": False,
        "deletable": obj.createable and permissions.get("delete", False),
        "deprecatedAndHidden": False,
        "feedEnabled": obj.name in ("Account", "Contact", "Lead", "User"),
        "keyPrefix": KEY_PREFIXES[obj.name],
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "listviewable": None,
        "lookupLayoutable": None,
        "mergeable": obj.name in ("Account", "Contact", "Lead"),
        "mruEnabled": True,
        "name": obj.name,
        "queryable": permissions.get("read", False),
        "replicateable": True,
        "retrieveable": True,
        "searchLayoutable": obj.name not in ("EventRelation",),
        "searchable": obj.name not in ("EventRelation",),
        "triggerable": True,
        "undeletable": obj.createable,
        "updateable": obj.createable and permissions.get("edit", False),
        "urls": {"rowTemplate": f"{base}/{{ID}}", "describe": f"{base}/describe", "sobject": base},
    }
