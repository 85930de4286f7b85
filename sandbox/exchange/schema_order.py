"""Child-element order of EWS item and folder types, derived from the EWS schema (types.xsd).

Responses must list an item's elements in schema order to be valid; these tuples give that order.
"""

ITEM_ORDER = (
    'MimeContent', 'ItemId', 'ParentFolderId', 'ItemClass', 'Subject', 'Sensitivity', 'Body',
    'Attachments', 'DateTimeReceived', 'Size', 'Categories', 'Importance', 'InReplyTo', 'IsSubmitted',
    'IsDraft', 'IsFromMe', 'IsResend', 'IsUnmodified', 'InternetMessageHeaders', 'DateTimeSent',
    'DateTimeCreated', 'ResponseObjects', 'ReminderDueBy', 'ReminderIsSet', 'ReminderNextTime',
    'ReminderMinutesBeforeStart', 'DisplayCc', 'DisplayTo', 'DisplayBcc', 'HasAttachments',
    'ExtendedProperty', 'Culture', 'EffectiveRights', 'LastModifiedName', 'LastModifiedTime',
    'IsAssociated', 'WebClientReadFormQueryString', 'WebClientEditFormQueryString', 'ConversationId',
    'UniqueBody', 'Flag', 'StoreEntryId', 'InstanceKey', 'NormalizedBody', 'EntityExtractionResult',
    'PolicyTag', 'ArchiveTag', 'RetentionDate', 'Preview', 'RightsManagementLicenseData',
    'PredictedActionReasons', 'IsClutter', 'BlockStatus', 'HasBlockedImages', 'TextBody', 'IconIndex',
    'SearchKey', 'SortKey', 'Hashtags', 'Mentions', 'MentionedMe', 'MentionsPreview', 'MentionsEx',
    'AppliedHashtags', 'AppliedHashtagsPreview', 'Likes', 'LikesPreview', 'PendingSocialActivityTagIds',
    'AtAllMention', 'CanDelete', 'InferenceClassification',
)

# ContactItemType: ITEM_ORDER followed by these
CONTACT_ORDER = (
    'FileAs', 'FileAsMapping', 'DisplayName', 'GivenName', 'Initials', 'MiddleName', 'Nickname',
    'CompleteName', 'CompanyName', 'EmailAddresses', 'AbchEmailAddresses', 'PhysicalAddresses',
    'PhoneNumbers', 'AssistantName', 'Birthday', 'BusinessHomePage', 'Children', 'Companies',
    'ContactSource', 'Department', 'Generation', 'ImAddresses', 'JobTitle', 'Manager', 'Mileage',
    'OfficeLocation', 'PostalAddressIndex', 'Profession', 'SpouseName', 'Surname', 'WeddingAnniversary',
    'HasPicture', 'PhoneticFullName', 'PhoneticFirstName', 'PhoneticLastName', 'Alias', 'Notes', 'Photo',
    'UserSMIMECertificate', 'MSExchangeCertificate', 'DirectoryId', 'ManagerMailbox', 'DirectReports',
    'AccountName', 'IsAutoUpdateDisabled', 'IsMessengerEnabled', 'Comment', 'ContactShortId',
    'ContactType', 'Gender', 'IsHidden', 'ObjectId', 'PassportId', 'IsPrivate', 'SourceId', 'TrustLevel',
    'CreatedBy', 'Urls', 'Cid', 'SkypeAuthCertificate', 'SkypeContext', 'SkypeId', 'SkypeRelationship',
    'YomiNickname', 'XboxLiveTag', 'InviteFree', 'HidePresenceAndProfile', 'IsPendingOutbound',
    'SupportGroupFeeds', 'UserTileHash', 'UnifiedInbox', 'Mris', 'Wlid', 'AbchContactId',
    'NotInBirthdayCalendar', 'ShellContactType', 'ImMri', 'PresenceTrustLevel', 'OtherMri',
    'ProfileLastChanged', 'MobileIMEnabled', 'PartnerNetworkProfilePhotoUrl',
    'PartnerNetworkThumbnailPhotoUrl', 'PersonId', 'ConversationGuid',
)

# CalendarItemType: ITEM_ORDER followed by these
CALENDAR_ITEM_ORDER = (
    'UID', 'RecurrenceId', 'DateTimeStamp', 'Start', 'End', 'OriginalStart', 'IsAllDayEvent',
    'LegacyFreeBusyStatus', 'Location', 'When', 'IsMeeting', 'IsCancelled', 'IsRecurring',
    'MeetingRequestWasSent', 'IsResponseRequested', 'CalendarItemType', 'MyResponseType', 'Organizer',
    'RequiredAttendees', 'OptionalAttendees', 'Resources', 'InboxReminders', 'ConflictingMeetingCount',
    'AdjacentMeetingCount', 'ConflictingMeetings', 'AdjacentMeetings', 'Duration', 'TimeZone',
    'AppointmentReplyTime', 'AppointmentSequenceNumber', 'AppointmentState', 'Recurrence',
    'FirstOccurrence', 'LastOccurrence', 'ModifiedOccurrences', 'DeletedOccurrences', 'MeetingTimeZone',
    'StartTimeZone', 'EndTimeZone', 'ConferenceType', 'AllowNewTimeProposal', 'IsOnlineMeeting',
    'MeetingWorkspaceUrl', 'NetShowUrl', 'EnhancedLocation', 'StartWallClock', 'EndWallClock',
    'StartTimeZoneId', 'EndTimeZoneId', 'IntendedFreeBusyStatus', 'JoinOnlineMeetingUrl',
    'OnlineMeetingSettings', 'IsOrganizer', 'CalendarActivityData', 'DoNotForwardMeeting',
)

# DistributionListType: ITEM_ORDER followed by these
DISTRIBUTION_LIST_ORDER = ('DisplayName', 'FileAs', 'ContactSource', 'Members')

# TaskType: ITEM_ORDER followed by these
TASK_ORDER = (
    'ActualWork', 'AssignedTime', 'BillingInformation', 'ChangeCount', 'Companies', 'CompleteDate',
    'Contacts', 'DelegationState', 'Delegator', 'DueDate', 'IsAssignmentEditable', 'IsComplete',
    'IsRecurring', 'IsTeamTask', 'Mileage', 'Owner', 'PercentComplete', 'Recurrence', 'StartDate',
    'Status', 'StatusDescription', 'TotalWork',
)

# MessageType: ITEM_ORDER followed by these
MESSAGE_ORDER = (
    'Sender', 'ToRecipients', 'CcRecipients', 'BccRecipients', 'IsReadReceiptRequested',
    'IsDeliveryReceiptRequested', 'ConversationIndex', 'ConversationTopic', 'From', 'InternetMessageId',
    'IsRead', 'IsResponseRequested', 'References', 'ReplyTo', 'ReceivedBy', 'ReceivedRepresenting',
    'ApprovalRequestData', 'VotingInformation', 'ReminderMessageData', 'MessageSafety',
    'SenderSMTPAddress', 'MailboxGuids', 'PublishedCalendarItemIcs', 'PublishedCalendarItemName',
)

FOLDER_ORDER = (
    'FolderId', 'ParentFolderId', 'FolderClass', 'DisplayName', 'TotalCount', 'ChildFolderCount',
    'ExtendedProperty', 'ManagedFolderInformation', 'EffectiveRights', 'DistinguishedFolderId',
    'PolicyTag', 'ArchiveTag', 'ReplicaList', 'PermissionSet', 'UnreadCount',
)

CALENDAR_FOLDER_ORDER = (
    'FolderId', 'ParentFolderId', 'FolderClass', 'DisplayName', 'TotalCount', 'ChildFolderCount',
    'ExtendedProperty', 'ManagedFolderInformation', 'EffectiveRights', 'DistinguishedFolderId',
    'PolicyTag', 'ArchiveTag', 'ReplicaList', 'SharingEffectiveRights', 'PermissionSet',
)

CONTACTS_FOLDER_ORDER = (
    'FolderId', 'ParentFolderId', 'FolderClass', 'DisplayName', 'TotalCount', 'ChildFolderCount',
    'ExtendedProperty', 'ManagedFolderInformation', 'EffectiveRights', 'DistinguishedFolderId',
    'PolicyTag', 'ArchiveTag', 'ReplicaList', 'SharingEffectiveRights', 'PermissionSet', 'SourceId',
    'AccountName',
)

TASKS_FOLDER_ORDER = (
    'FolderId', 'ParentFolderId', 'FolderClass', 'DisplayName', 'TotalCount', 'ChildFolderCount',
    'ExtendedProperty', 'ManagedFolderInformation', 'EffectiveRights', 'DistinguishedFolderId',
    'PolicyTag', 'ArchiveTag', 'ReplicaList', 'PermissionSet', 'UnreadCount',
)

PHYSICAL_ADDRESS_ORDER = (
    'Street', 'City', 'State', 'CountryOrRegion', 'PostalCode',
)


# Item properties of schema type xs:boolean and xs:dateTime (Exchange answers "true"/"false" and UTC).
BOOLEAN_FIELDS = frozenset((
    'AllowNewTimeProposal', 'AtAllMention', 'BlockStatus', 'CanDelete', 'DoNotForwardMeeting',
    'HasAttachments', 'HasBlockedImages', 'HasPicture', 'HidePresenceAndProfile', 'InviteFree',
    'IsAllDayEvent', 'IsAssociated', 'IsAutoUpdateDisabled', 'IsCancelled', 'IsClutter', 'IsComplete',
    'IsDeliveryReceiptRequested', 'IsDraft', 'IsFromMe', 'IsHidden', 'IsMeeting', 'IsMessengerEnabled',
    'IsOnlineMeeting', 'IsOrganizer', 'IsPendingOutbound', 'IsPrivate', 'IsRead',
    'IsReadReceiptRequested', 'IsRecurring', 'IsResend', 'IsResponseRequested', 'IsSubmitted',
    'IsTeamTask', 'IsUnmodified', 'MeetingRequestWasSent', 'MentionedMe', 'MobileIMEnabled',
    'NotInBirthdayCalendar', 'ReminderIsSet', 'SupportGroupFeeds', 'UnifiedInbox',
))
DATETIME_FIELDS = frozenset((
    'AppointmentReplyTime', 'AssignedTime', 'Birthday', 'CompleteDate', 'DateTimeCreated',
    'DateTimeReceived', 'DateTimeSent', 'DateTimeStamp', 'DueDate', 'End', 'EndWallClock',
    'LastModifiedTime', 'OriginalStart', 'RecurrenceId', 'ReminderDueBy', 'ReminderNextTime',
    'RetentionDate', 'Start', 'StartDate', 'StartWallClock', 'WeddingAnniversary',
))
